/**
 * Malformed routing.yaml variants, generated from a real config (the repo's): every scalar
 * given a wrong type, every map given an unknown or misspelt key, duplicated blocks, broken
 * YAML, dangling references and alias tricks, huge files, and secrets written inline.
 *
 * Each variant is invalid by construction. Where the mutation pins the line a person must be
 * sent to, the variant says so (`line`), so the suite checks the location, not just that one
 * exists; `secret` is a value the error must never repeat.
 */
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument, type Scalar } from "yaml"

export type Family = "wrong-type" | "unknown-key" | "duplicate" | "bad-yaml" | "reference" | "huge" | "secret"

export interface Variant {
  readonly family: Family
  readonly name: string
  readonly text: string
  /** The line an issue must point at, when the mutation pins it. */
  readonly line?: number
  /** A value that must never appear in the error (an inline secret). */
  readonly secret?: string
}

interface Leaf {
  readonly path: ReadonlyArray<string | number>
  readonly node: Scalar
}

interface KeyAt {
  readonly path: ReadonlyArray<string | number>
  readonly key: Scalar
}

interface MapAt {
  readonly path: ReadonlyArray<string | number>
  readonly flow: boolean
  readonly firstKey: Scalar
}

/** Map keys that name things (backends, categories, models' backends) rather than fields. */
const isRecordPath = (path: ReadonlyArray<string | number>) => {
  const last = path[path.length - 1]
  return (path.length === 1 && (last === "backends" || last === "categories")) || last === "models"
}

const walk = (text: string) => {
  const document = parseDocument(text)
  const leaves: Array<Leaf> = []
  const keys: Array<KeyAt> = []
  const maps: Array<MapAt> = []
  const visit = (node: unknown, path: ReadonlyArray<string | number>) => {
    if (isMap(node)) {
      const first = node.items[0]?.key
      if (isScalar(first)) maps.push({ path, flow: node.flow === true, firstKey: first })
      for (const pair of node.items) {
        if (!isScalar(pair.key)) continue
        const name = String(pair.key.value)
        if (!isRecordPath(path)) keys.push({ path: [...path, name], key: pair.key })
        visit(pair.value, [...path, name])
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => visit(item, [...path, i]))
    } else if (isScalar(node)) {
      leaves.push({ path, node })
    }
  }
  visit(document.contents, [])
  const lines = new LineCounter()
  parseDocument(text, { lineCounter: lines })
  const lineOf = (offset: number) => lines.linePos(offset).line
  return { leaves, keys, maps, lineOf }
}

const rangeOf = (node: Node) => {
  const range = node.range
  if (!range) throw new Error("node without a range")
  return { start: range[0], end: range[1] }
}

const splice = (text: string, start: number, end: number, insert: string) => text.slice(0, start) + insert + text.slice(end)

/** Values that no field of routing.yaml accepts where a string (or a duration) is expected. */
const wrongValuesFor = (path: ReadonlyArray<string | number>, value: unknown): ReadonlyArray<string> => {
  if (path[0] === "version") return ["2", `"1"`, "[1]"]
  if (path.includes("timeouts")) return ["soon", "-5", "true"]
  if (typeof value === "string") return ["42", "true", "{ wrong: 1 }"]
  return [`"text"`, "[1]"]
}

const transpose = (word: string) => word.length < 3 ? `${word}x` : `${word.charAt(0)}${word.charAt(2)}${word.charAt(1)}${word.slice(3)}`

/** A secret-looking value unique to one variant. */
const secretValue = (i: number) => `sk-live-${(0x5eed + i * 7919).toString(36)}Q9x${"abcdefgh".slice(i % 8)}${i}`

export const generate = (base: string): ReadonlyArray<Variant> => {
  const { leaves, keys, maps, lineOf } = walk(base)
  const lines = base.split("\n")
  const variants: Array<Variant> = []
  const add = (variant: Variant) => variants.push(variant)

  // Wrong types: every scalar in the file, replaced by values its field never accepts.
  for (const leaf of leaves) {
    const { start, end } = rangeOf(leaf.node)
    for (const wrong of wrongValuesFor(leaf.path, leaf.node.value)) {
      add({ family: "wrong-type", name: `${leaf.path.join(".")} = ${wrong}`, text: splice(base, start, end, wrong), line: lineOf(start) })
    }
  }
  // Whole sections of the wrong shape.
  const sectionLine = (key: string) => lines.findIndex((l) => l.startsWith(`${key}:`)) + 1
  for (const [section, wrong] of [["backends", "[mlx, ollama]"], ["priorities", "text"], ["categories", "[fast, code]"], ["backends", "42"], ["categories", "~"]] as const) {
    const at = sectionLine(section)
    const end = lines.findIndex((l, i) => i >= at && /^\S/.test(l))
    const text = [...lines.slice(0, at - 1), `${section}: ${wrong}`, ...lines.slice(end < 0 ? lines.length : end)].join("\n")
    add({ family: "wrong-type", name: `${section} is ${wrong}`, text, line: at })
  }

  // Unknown keys: one added to every map, and every field name misspelt.
  for (const map of maps) {
    const { start } = rangeOf(map.firstKey)
    const text = map.flow
      ? splice(base, start, start, "bogusKey: 1, ")
      : splice(base, start, start, `bogusKey: 1\n${" ".repeat(start - base.lastIndexOf("\n", start - 1) - 1)}`)
    add({ family: "unknown-key", name: `${map.path.join(".") || "(top)"} + bogusKey`, text, line: lineOf(start) })
  }
  for (const key of keys) {
    const { start, end } = rangeOf(key.key)
    const word = String(key.key.value)
    add({ family: "unknown-key", name: `${key.path.join(".")} misspelt ${transpose(word)}`, text: splice(base, start, end, transpose(word)), line: lineOf(start) })
  }

  // Duplicates: every backend and category block written twice, and a key repeated in a category.
  const blocks = (section: string) => {
    const at = lines.findIndex((l) => l.startsWith(`${section}:`))
    const found: Array<{ name: string; from: number; to: number }> = []
    for (let i = at + 1; i < lines.length && !/^\S/.test(lines[i]!); i++) {
      const m = /^ {2}([A-Za-z][\w.-]*):/.exec(lines[i]!)
      if (m) found.push({ name: m[1]!, from: i, to: i + 1 })
      else if (found.length && /^ {3,}\S/.test(lines[i]!)) found[found.length - 1]!.to = i + 1
    }
    return found
  }
  for (const section of ["backends", "categories"]) {
    for (const block of blocks(section)) {
      const copy = lines.slice(block.from, block.to)
      const text = [...lines.slice(0, block.to), ...copy, ...lines.slice(block.to)].join("\n")
      add({ family: "duplicate", name: `${section}.${block.name} twice`, text, line: block.to + 1 })
    }
  }
  for (const block of blocks("categories")) {
    const input = lines.findIndex((l, i) => i >= block.from && i < block.to && /^ {4}input:/.test(l))
    const text = [...lines.slice(0, input + 1), lines[input]!, ...lines.slice(input + 1)].join("\n")
    add({ family: "duplicate", name: `categories.${block.name}.input twice`, text, line: input + 2 })
  }

  // Broken YAML on lines throughout the file.
  const contentLines = lines.flatMap((l, i) => (/^\s*[A-Za-z$][\w.-]*:\s*\S/.test(l) && !l.trim().startsWith("#") ? [i] : []))
  const sample = contentLines.filter((_, i) => i % 3 === 0)
  for (const i of sample) {
    const line = lines[i]!
    const indent = /^ */.exec(line)![0]
    const edits: ReadonlyArray<[string, string, boolean]> = [
      ["tab indent", `${indent}\t${line.trimStart()}`, indent.length > 0],
      ["nested mapping", `${line.trimEnd()}: oops: no`, true],
      ["unclosed quote", line.replace(/:\s+(.*)$/, ': "$1'), false],
      ["unclosed flow", line.replace(/:\s+(.*)$/, ": [$1"), false],
      ["stray bracket", line.replace(/:\s+(.*)$/, ": [$1]]"), true]
    ]
    for (const [what, edited, pinned] of edits) {
      if (edited === line) continue
      const text = [...lines.slice(0, i), edited, ...lines.slice(i + 1)].join("\n")
      add({ family: "bad-yaml", name: `line ${i + 1}: ${what}`, text, ...(pinned ? { line: i + 1 } : {}) })
    }
  }
  add({ family: "bad-yaml", name: "a list where the file should be a map", text: `- ${base.split("\n").join("\n  ")}` })
  add({ family: "bad-yaml", name: "only a scalar", text: "just some words\n" })
  add({ family: "bad-yaml", name: "empty file", text: "" })
  add({ family: "bad-yaml", name: "only comments", text: "# nothing here\n# at all\n" })
  add({ family: "bad-yaml", name: "two documents", text: `${base}\n---\n${base}` })
  add({ family: "bad-yaml", name: "binary garbage", text: "\u0000\u0001\u0002backends:\u0007 [\u0000]\n" })
  add({ family: "bad-yaml", name: "byte order mark and CRLF with a wrong type", text: `\ufeff${base.replace("version: 1", "version: 9").replace(/\n/g, "\r\n")}`, line: lines.findIndex((l) => l.startsWith("version:")) + 1 })

  // References: backends removed or renamed under their users, lists naming nothing, alias tricks.
  for (const block of blocks("backends")) {
    const text = [...lines.slice(0, block.from), ...lines.slice(block.to)].join("\n")
    add({ family: "reference", name: `backend ${block.name} removed`, text })
    const renamed = [...lines.slice(0, block.from), lines[block.from]!.replace(block.name, `${block.name}2`), ...lines.slice(block.from + 1)].join("\n")
    add({ family: "reference", name: `backend ${block.name} renamed`, text: renamed })
  }
  for (const block of blocks("categories")) {
    const at = block.from + 1
    const insert = (line: string) => [...lines.slice(0, at), line, ...lines.slice(at)].join("\n")
    add({ family: "reference", name: `categories.${block.name}.priority names a missing backend`, text: insert("    priority: [cloud, nowhere]"), line: at + 1 })
    add({ family: "reference", name: `categories.${block.name}.priority lists a backend twice`, text: insert("    priority: [cloud, cloud]"), line: at + 1 })
    // Reported where the models are, since either side may be the one to fix.
    add({ family: "reference", name: `categories.${block.name}.priority names none of its models`, text: insert("    priority: []") })
  }
  for (const kind of ["text", "image", "pdf"]) {
    const i = lines.findIndex((l) => l.startsWith(`  ${kind}: [`))
    const twice = [...lines.slice(0, i), lines[i]!.replace("[", "[ollama, "), ...lines.slice(i + 1)].join("\n")
    add({ family: "reference", name: `priorities.${kind} lists ollama twice`, text: twice, line: i + 1 })
    const unknown = [...lines.slice(0, i), lines[i]!.replace("[", "[olama, "), ...lines.slice(i + 1)].join("\n")
    add({ family: "reference", name: `priorities.${kind} names a misspelt backend`, text: unknown, line: i + 1 })
  }
  const cloudLine = lines.findIndex((l) => l.startsWith("  cloud:"))
  add({ family: "reference", name: "an alias to an anchor never defined", text: [...lines.slice(0, cloudLine), "  spare: *nowhere", ...lines.slice(cloudLine)].join("\n"), line: cloudLine + 1 })
  add({ family: "reference", name: "a map that contains itself (alias cycle)", text: `${base}\nextra: &loop { self: *loop }\n` })
  add({ family: "reference", name: "a backend entry merged from itself", text: [...lines.slice(0, cloudLine), "  loop: &me { type: mlx, <<: *me }", ...lines.slice(cloudLine)].join("\n") })

  // Huge files: each still broken somewhere, and none may be echoed back whole.
  const many = Array.from({ length: 1500 }, (_, i) => `  generated${i}:\n    input: text\n    models: { ollama: "phi3.5:3.8b" }`).join("\n")
  const manyText = `${base.trimEnd()}\n${many}\n  lastOne:\n    input: txet\n    models: { ollama: "phi3.5:3.8b" }\n`
  add({ family: "huge", name: "1500 categories, the last one wrong", text: manyText, line: manyText.split("\n").length - 2 })
  const fast = lines.findIndex((l) => l.startsWith("  fast:"))
  const longDescription = [...lines.slice(0, fast + 1), `    description: ${"x".repeat(4 * 1024 * 1024)}`, "    timeouts: { idle: forever }", ...lines.slice(fast + 2)].join("\n")
  add({ family: "huge", name: "a 4 MiB description and a bad duration", text: longDescription, line: fast + 3 })
  const bigNumber = [...lines.slice(0, fast + 1), `    description: ${"9".repeat(100_000)}`, ...lines.slice(fast + 2)].join("\n")
  add({ family: "huge", name: "a 100k-digit number as a description", text: bigNumber, line: fast + 2 })
  const laughs = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
  for (let i = 1; i < 10; i++) laughs.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(", ")}]`)
  add({ family: "huge", name: "billion laughs", text: `${base}\nbomb:\n${laughs.map((l) => `  ${l}`).join("\n")}\n` })
  add({ family: "huge", name: "flow nesting 2000 deep", text: [...lines.slice(0, fast + 1), `    description: ${"[".repeat(2000)}${"]".repeat(2000)}`, ...lines.slice(fast + 2)].join("\n"), line: fast + 2 })
  add({ family: "huge", name: "block nesting 500 deep", text: `${base}\ndeep:\n${Array.from({ length: 500 }, (_, i) => `${" ".repeat(i + 1)}k${i}:`).join("\n")} end\n` })
  add({ family: "huge", name: "50k comment lines, then a wrong type", text: `${"# filler\n".repeat(50_000)}${base.replace("version: 1", "version: 3")}`, line: 50_000 + lines.findIndex((l) => l.startsWith("version:")) + 1 })

  // Secrets written inline, under every key that holds one, in the right and the wrong shape.
  let n = 0
  for (const block of blocks("backends")) {
    for (const key of ["apiKey", "token", "secret", "password", "api_key", "authToken"]) {
      const secret = secretValue(n++)
      const existing = lines.findIndex((l, i) => i > block.from && i < block.to && l.trimStart().startsWith(`${key}:`))
      const text = existing >= 0
        ? [...lines.slice(0, existing), lines[existing]!.replace(/:\s.*$/, `: ${secret}`), ...lines.slice(existing + 1)].join("\n")
        : [...lines.slice(0, block.to), `    ${key}: ${secret}`, ...lines.slice(block.to)].join("\n")
      add({ family: "secret", name: `backends.${block.name}.${key} inline`, text, line: existing >= 0 ? existing + 1 : block.to + 1, secret })
    }
  }
  const apiKeyLine = lines.findIndex((l) => l.trimStart().startsWith("apiKey:"))
  for (const shape of [(s: string) => `[${s}]`, (s: string) => `{ value: ${s} }`, (s: string) => `"env:${s}"`, (s: string) => `env:OPENAI_API_KEY ${s}`, (s: string) => `|\n      ${s}`]) {
    const secret = secretValue(n++)
    const text = [...lines.slice(0, apiKeyLine), lines[apiKeyLine]!.replace(/:\s.*$/, `: ${shape(secret)}`), ...lines.slice(apiKeyLine + 1)].join("\n")
    add({ family: "secret", name: `apiKey shaped ${shape("S")}`, text, line: apiKeyLine + 1, secret })
  }
  for (const place of ["server", "defaults", "categories.fast", "priorities"]) {
    const secret = secretValue(n++)
    const text = place === "server"
      ? `${base}\nserver:\n  token: ${secret}\n`
      : place === "defaults"
      ? `${base}\ndefaults:\n  token: ${secret}\n`
      : place === "priorities"
      ? base.replace("priorities:\n", `priorities:\n  apiKey: ${secret}\n`)
      : [...lines.slice(0, fast + 1), `    apiKey: ${secret}`, ...lines.slice(fast + 1)].join("\n")
    add({ family: "secret", name: `${place}: a secret inline`, text, secret })
  }
  {
    const secret = secretValue(n++)
    const text = [...lines.slice(0, apiKeyLine), lines[apiKeyLine]!.replace(/:\s.*$/, `: ${secret}`), ...lines.slice(apiKeyLine + 1)].join("\n").replace("version: 1", "version: [1")
    add({ family: "secret", name: "an inline apiKey in a file that is also bad YAML", text, secret })
  }
  // A section of the wrong shape that holds an inline secret: the error names the shape, never the content.
  {
    const secret = secretValue(n++)
    const backendsAt = lines.findIndex((l) => l.startsWith("backends:"))
    const end = lines.findIndex((l, i) => i > backendsAt && /^\S/.test(l) && !l.startsWith("#"))
    const text = [...lines.slice(0, backendsAt + 1), `  - { type: cloud, provider: openai, apiKey: ${secret} }`, ...lines.slice(end)].join("\n")
    add({ family: "secret", name: "backends written as a list holding an inline apiKey", text, line: backendsAt + 2, secret })
  }
  {
    const secret = secretValue(n++)
    const text = `- ${base.replace("apiKey: env:OPENAI_API_KEY", `apiKey: ${secret}`).split("\n").join("\n  ")}`
    add({ family: "secret", name: "the whole file as a list, with an inline apiKey", text, line: 1, secret })
  }
  {
    const secret = secretValue(n++)
    const text = base.replace("apiKey: env:OPENAI_API_KEY", `apiKey: ${secret}`).replace("  fast:\n", "  fast: &f\n    priority: *f\n")
    add({ family: "secret", name: "a category containing itself, beside an inline apiKey", text, line: fast + 2, secret })
  }
  // A syntax error above an inline secret: the parser's complaints about every later token
  // must not quote the secret back.
  for (const [what, edit] of [["a stray bracket", (l: string) => l.replace(/:\s+(.*)$/, ": [$1]]")], ["a tab", (l: string) => `\t${l.trimStart()}`], ["an unclosed quote", (l: string) => l.replace(/:\s+(.*)$/, ': "$1')]] as const) {
    for (const above of [lines.findIndex((l) => l.startsWith("version:")), lines.findIndex((l) => l.trimStart().startsWith("url:"))]) {
      const secret = secretValue(n++)
      const withSecret = [...lines.slice(0, apiKeyLine), lines[apiKeyLine]!.replace(/:\s.*$/, `: ${secret}`), ...lines.slice(apiKeyLine + 1)]
      const text = [...withSecret.slice(0, above), edit(withSecret[above]!), ...withSecret.slice(above + 1)].join("\n")
      add({ family: "secret", name: `an inline apiKey below ${what} on line ${above + 1}`, text, secret })
    }
  }
  for (const shape of [(s: string) => `|${s}`, (s: string) => `!${s} x`, (s: string) => `"\\q${s}"`, (s: string) => `&${s} x`, (s: string) => `*${s}`]) {
    const secret = secretValue(n++)
    const text = [...lines.slice(0, apiKeyLine), lines[apiKeyLine]!.replace(/:\s.*$/, `: ${shape(secret)}`), ...lines.slice(apiKeyLine + 1)].join("\n")
    add({ family: "secret", name: `apiKey written as YAML syntax ${shape("S")}`, text, secret })
  }
  {
    const secret = secretValue(n++)
    const text = [...lines.slice(0, apiKeyLine), lines[apiKeyLine]!.replace(/:\s.*$/, `: ${secret}`), ...lines.slice(apiKeyLine + 1)].join("\n").replace("input: image", "input: imgae")
    add({ family: "secret", name: "an inline apiKey beside a schema error", text, line: apiKeyLine + 1, secret })
  }
  return variants
}
