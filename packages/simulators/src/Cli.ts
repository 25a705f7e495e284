/**
 * Command-line flags of the simulator executables: the common ones every simulator takes
 * and each simulator's own, with `--help` generated from the same table so it cannot drift.
 */
import { parseArgs } from "node:util"
import * as Faults from "./Faults.ts"

export interface Flag {
  readonly name: string
  readonly type: "string" | "boolean"
  readonly multiple?: boolean
  readonly default?: string
  readonly help: string
}

export const common: ReadonlyArray<Flag> = [
  { name: "host", type: "string", default: "127.0.0.1", help: "address to bind" },
  { name: "port", type: "string", help: "port to bind; 0 = any free port (default: the real server's port)" },
  { name: "tokens", type: "string", help: "words per answer (default: 3-8, derived from the prompt)" },
  { name: "token-ms", type: "string", default: "0", help: "delay before each streamed token, in ms" },
  {
    name: "fault",
    type: "string",
    multiple: true,
    help: `inject a fault, repeatable: kind[=value][,key=value...] or JSON. Kinds: ${Faults.kinds.join(", ")}`
  },
  { name: "die-with-stdin", type: "boolean", help: "exit when stdin closes (the parent test process died)" },
  { name: "ignore-sigterm", type: "boolean", help: "ignore SIGTERM, like a wedged server (SIGKILL still works)" },
  { name: "help", type: "boolean", help: "print this help" }
]

export interface Parsed {
  readonly values: Record<string, string | boolean | ReadonlyArray<string> | undefined>
  readonly faults: ReadonlyArray<Faults.Fault>
  readonly host: string
  /** undefined when not given: each simulator picks its real server's default. */
  readonly port: string | undefined
  readonly tokens: number | undefined
  readonly tokenMs: number
}

export const helpText = (sim: string, summary: string, flags: ReadonlyArray<Flag>): string => {
  const rows = [...flags, ...common].map((f) => {
    const left = `  --${f.name}${f.type === "string" ? " <value>" : ""}`
    const def = f.default !== undefined ? ` (default: ${f.default})` : ""
    return `${left.padEnd(30)} ${f.help}${def}`
  })
  return [
    `sim-${sim}: ${summary}`,
    "",
    "Flags:",
    ...rows,
    "",
    "Prints one JSON line on stdout when listening: {\"sim\",\"host\",\"port\",\"url\",\"pid\"}.",
    "Control routes: GET|POST|DELETE /__sim/faults, GET|DELETE /__sim/requests.",
    ""
  ].join("\n")
}

export const parse = (sim: string, summary: string, flags: ReadonlyArray<Flag>, argv: ReadonlyArray<string>): Parsed => {
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean; default?: string }> = {}
  for (const f of [...flags, ...common]) {
    options[f.name] = { type: f.type, ...(f.multiple === true ? { multiple: true } : {}), ...(f.default !== undefined ? { default: f.default } : {}) }
  }
  const { values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false })
  if (values["help"] === true) {
    process.stdout.write(helpText(sim, summary, flags))
    process.exit(0)
  }
  const faultFlags = (values["fault"] as ReadonlyArray<string> | undefined) ?? []
  const tokens = values["tokens"] === undefined ? undefined : number("tokens", values["tokens"])
  return {
    values: values as Parsed["values"],
    faults: faultFlags.map(Faults.fromFlag),
    host: String(values["host"]),
    port: values["port"] as string | undefined,
    tokens,
    tokenMs: number("token-ms", values["token-ms"])
  }
}

/** A numeric flag; a bad value stops the process with a message rather than running wrong. */
export const number = (name: string, value: unknown): number => {
  const n = Number(value)
  if (typeof value !== "string" || value === "" || !Number.isFinite(n) || n < 0) {
    throw new Error(`--${name} needs a non-negative number, got ${JSON.stringify(value)}`)
  }
  return n
}

export const list = (value: unknown): ReadonlyArray<string> =>
  typeof value === "string" ? value.split(",").map((s) => s.trim()).filter(Boolean) : []
