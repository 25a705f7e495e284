/** PDFs that Debian's documentation packages install: real-world files, when present. */
import * as fs from "node:fs"

export const sharedMimeInfoSpec = "/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf"
export const libtasn1Manual = "/usr/share/doc/libtasn1-doc/libtasn1.pdf"

/** The file if it is installed; otherwise say which package would provide it, once. */
export const find = (file: string, pkg: string): string | undefined => {
  if (fs.existsSync(file)) return file
  console.warn(`skipping tests on ${file}: not installed (apt-get install ${pkg})`)
  return undefined
}
