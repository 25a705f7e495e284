/**
 * PDF rendering bench: pages per second and peak memory (max RSS) for rendering the same PDFs
 * at 144 DPI to PNG with pdfjs-dist (local-router's renderer, in its worker thread), with
 * poppler's `pdftoppm`, and with the `mupdf` npm package (WebAssembly, AGPL), printing ratios
 * against pdftoppm.
 *
 *   ./run node bench/pdf/run.ts [file.pdf ...]     (default: PDFs from Debian's doc packages)
 *   ./run node bench/pdf/run.ts --serve            serve's RSS idle / peak / for 60 s after a 36-page
 *                                                  PDF (serveMemory.ts)
 *
 * Each engine runs in its own process under /usr/bin/time, so peak memory is that process's
 * alone, and its time includes starting up (what a CLI call pays). All engines render one page
 * at a time.
 */
import { execFileSync, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const DPI = 144
const self = fileURLToPath(import.meta.url)
const visionDir = path.resolve(path.dirname(self), "../../packages/vision")
const defaults = [
  "/usr/share/doc/shared-mime-info/shared-mime-info-spec.pdf",
  "/usr/share/doc/libtasn1-doc/libtasn1.pdf"
]

type Engine = "pdfjs" | "mupdf" | "pdftoppm"

/** The slice of mupdf's API the bench uses (it is a devDependency of packages/vision, not of bench/). */
interface MuPdf {
  readonly Document: { openDocument(data: Uint8Array, magic: string): MuDocument }
  readonly Matrix: { scale(x: number, y: number): unknown }
  readonly ColorSpace: { readonly DeviceRGB: unknown }
}
interface MuDocument {
  countPages(): number
  loadPage(index: number): { toPixmap(matrix: unknown, colorspace: unknown, alpha: boolean, extras: boolean): { asPNG(): Uint8Array; destroy(): void }; destroy(): void }
  destroy(): void
}

/** Child mode: render every page of every file with one engine and print the page count. */
const renderAll = async (engine: Exclude<Engine, "pdftoppm">, files: ReadonlyArray<string>): Promise<number> => {
  let pages = 0
  if (engine === "mupdf") {
    const mupdf = await import(createRequire(path.join(visionDir, "package.json")).resolve("mupdf")) as MuPdf
    for (const file of files) {
      const doc = mupdf.Document.openDocument(fs.readFileSync(file), "application/pdf")
      for (let i = 0; i < doc.countPages(); i++) {
        const page = doc.loadPage(i)
        const pixmap = page.toPixmap(mupdf.Matrix.scale(DPI / 72, DPI / 72), mupdf.ColorSpace.DeviceRGB, false, true)
        pixmap.asPNG()
        pixmap.destroy()
        page.destroy()
        pages++
      }
      doc.destroy()
    }
    return pages
  }
  const { Effect } = await import(createRequire(path.join(visionDir, "package.json")).resolve("effect"))
  const { Limits, PdfDocument } = await import(path.join(visionDir, "src/index.ts"))
  for (const file of files) {
    pages += await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const doc = yield* PdfDocument.open(new Uint8Array(fs.readFileSync(file)), file, { limits: Limits.defaults })
      for (let n = 1; n <= doc.pageCount; n++) yield* doc.render(n, DPI)
      return doc.pageCount as number
    })))
  }
  return pages
}

interface Result {
  readonly engine: Engine
  readonly pages: number
  readonly seconds: number
  readonly peakMb: number | undefined
}

const hasTime = fs.existsSync("/usr/bin/time")

const measure = (engine: Engine, command: string, args: ReadonlyArray<string>, pagesOf: (stdout: string) => number): Result => {
  const report = path.join(os.tmpdir(), `bench-pdf-${engine}-${process.pid}.time`)
  const started = performance.now()
  const run = hasTime
    ? spawnSync("/usr/bin/time", ["-f", "%M", "-o", report, command, ...args], { encoding: "utf8" })
    : spawnSync(command, args, { encoding: "utf8" })
  const seconds = (performance.now() - started) / 1000
  if (run.status !== 0) throw new Error(`${engine} failed (${run.status}): ${run.stderr}`)
  const peakMb = hasTime ? Number(fs.readFileSync(report, "utf8").trim().split("\n").at(-1)) / 1024 : undefined
  return { engine, pages: pagesOf(run.stdout), seconds, peakMb }
}

const main = async () => {
  const args = process.argv.slice(2)
  if (args[0] === "--serve") {
    const { main: serveMemory } = await import("./serveMemory.ts")
    return serveMemory(args.slice(1))
  }
  if (args[0] === "--child") {
    const pages = await renderAll(args[1] as "pdfjs" | "mupdf", args.slice(2))
    process.stdout.write(`${pages}\n`)
    return
  }
  const files = (args.length ? args : defaults).filter((file) => {
    if (fs.existsSync(file)) return true
    console.log(`skipping ${file}: not found`)
    return false
  })
  if (files.length === 0) throw new Error("no PDFs to render: pass some, or apt-get install shared-mime-info libtasn1-doc")
  console.log(`Rendering ${files.length} PDF(s) at ${DPI} DPI to PNG, one page at a time:\n${files.map((f) => `  ${f}`).join("\n")}`)
  if (!hasTime) console.log("/usr/bin/time is missing (apt-get install time): peak memory is not measured")

  const results: Array<Result> = []
  const node = process.execPath
  const flags = ["--disable-warning=ExperimentalWarning"]
  const pageCount = (stdout: string) => Number(stdout.trim().split("\n").at(-1))
  results.push(measure("pdfjs", node, [...flags, self, "--child", "pdfjs", ...files], pageCount))
  results.push(measure("mupdf", node, [...flags, self, "--child", "mupdf", ...files], pageCount))

  let pdftoppm: string | undefined
  try {
    pdftoppm = execFileSync("sh", ["-c", "command -v pdftoppm"], { encoding: "utf8" }).trim() || undefined
  } catch {
    pdftoppm = undefined
  }
  if (pdftoppm) {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "bench-pdftoppm-"))
    // pdftoppm takes one file per run; a shell runs them all inside one measured process tree.
    const script = files.map((f, i) => `${pdftoppm} -r ${DPI} -png '${f.replace(/'/g, "'\\''")}' '${out}/f${i}'`).join(" && ")
    results.push(measure("pdftoppm", "sh", ["-c", `${script} && ls '${out}' | wc -l`], pageCount))
    fs.rmSync(out, { recursive: true, force: true })
  } else {
    console.log("\npdftoppm is MISSING (apt-get install poppler-utils): no baseline, absolute numbers only")
  }

  const base = results.find((r) => r.engine === "pdftoppm")
  console.log(`\n${"engine".padEnd(10)}${"pages".padStart(7)}${"seconds".padStart(10)}${"pages/s".padStart(10)}${"peak MB".padStart(10)}${base ? "   speed vs pdftoppm   memory vs pdftoppm" : ""}`)
  for (const r of results) {
    const rate = r.pages / r.seconds
    const ratios = base
      ? `   ${(rate / (base.pages / base.seconds)).toFixed(2)}x`.padEnd(23) +
        (r.peakMb !== undefined && base.peakMb !== undefined ? `${(r.peakMb / base.peakMb).toFixed(2)}x` : "n/a")
      : ""
    console.log(
      `${r.engine.padEnd(10)}${String(r.pages).padStart(7)}${r.seconds.toFixed(2).padStart(10)}${rate.toFixed(2).padStart(10)}${(r.peakMb?.toFixed(0) ?? "n/a").padStart(10)}${ratios}`
    )
  }
}

await main()
