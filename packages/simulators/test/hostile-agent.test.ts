/**
 * No agent-feature request, however malformed, may hang a simulator, crash it, or reach its
 * "simulator bug" 500: every field of a valid tool/format/reasoning/embedding request is
 * replaced, one at a time, by each of a list of hostile values (wrong types, huge numbers,
 * self-referencing and exploding schemas), on every simulator that has agent features.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Simulator from "../src/Simulator.ts"

const hostile: ReadonlyArray<unknown> = [
  null,
  0,
  -1,
  1e308,
  "",
  "x\u0000y",
  [],
  {},
  [null],
  [1, 2],
  true,
  "a".repeat(20_000),
  { type: "object", properties: { a: { $ref: "#/$defs/a" } }, $defs: { a: { $ref: "#/$defs/a" } } },
  { $defs: { a: { allOf: [{ $ref: "#/$defs/a" }], anyOf: [{ $ref: "#/$defs/a" }] } }, $ref: "#/$defs/a" },
  { type: "string", minLength: 1e9 },
  { type: "array", minItems: 1e9, items: { type: "array", minItems: 1e9, items: { type: "array", minItems: 1e9, items: { type: "string" } } } },
  { type: "number", multipleOf: 0, minimum: 10, maximum: 1 },
  { type: ["null"], enum: [] },
  { type: "object", properties: { name: "not a schema", n: 5 } }
]

const schema = { type: "object", properties: { city: { type: "string" } }, required: ["city"] }
const openAiBody = {
  model: "M",
  stream: false,
  messages: [
    { role: "user", content: "get_weather city=Paris" },
    { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }] },
    { role: "tool", tool_call_id: "call_1", content: "sunny" },
    { role: "user", content: "get_weather again" }
  ],
  tools: [{ type: "function", function: { name: "get_weather", parameters: schema } }],
  tool_choice: "auto",
  parallel_tool_calls: true,
  response_format: { type: "json_schema", json_schema: { name: "x", schema } },
  reasoning_effort: "low",
  chat_template_kwargs: { enable_thinking: true }
}
const openAiPaths = [
  ["messages"], ["messages", 1], ["messages", 1, "tool_calls"], ["messages", 1, "tool_calls", 0], ["messages", 1, "tool_calls", 0, "function", "arguments"],
  ["messages", 2], ["messages", 2, "content"], ["messages", 2, "tool_call_id"], ["messages", 3, "content"],
  ["tools"], ["tools", 0], ["tools", 0, "function"], ["tools", 0, "function", "name"], ["tools", 0, "function", "parameters"],
  ["tool_choice"], ["parallel_tool_calls"], ["response_format"], ["response_format", "type"], ["response_format", "json_schema"], ["response_format", "json_schema", "schema"],
  ["reasoning_effort"], ["chat_template_kwargs"], ["json_schema"], ["max_tokens"]
]
const ollamaBody = {
  model: "qwen3:8b",
  stream: false,
  messages: [
    { role: "user", content: "get_weather city=Paris" },
    { role: "assistant", content: "", tool_calls: [{ function: { name: "get_weather", arguments: { city: "Paris" } } }] },
    { role: "tool", tool_name: "get_weather", content: "sunny" }
  ],
  tools: [{ type: "function", function: { name: "get_weather", parameters: schema } }],
  format: schema,
  think: true
}
const ollamaPaths = [
  ["messages"], ["messages", 1, "tool_calls"], ["messages", 1, "tool_calls", 0, "function", "arguments"], ["messages", 2, "tool_name"], ["messages", 2, "content"],
  ["tools"], ["tools", 0, "function"], ["tools", 0, "function", "parameters"], ["format"], ["think"], ["options"], ["keep_alive"]
]
const anthropicBody = {
  model: "m",
  max_tokens: 4096,
  stream: false,
  messages: [
    { role: "user", content: "get_weather city=Paris" },
    { role: "assistant", content: [{ type: "tool_use", id: "toolu_01a", name: "get_weather", input: { city: "Paris" } }] },
    { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_01a", content: "sunny" }] }
  ],
  tools: [{ name: "get_weather", input_schema: schema }],
  tool_choice: { type: "auto" },
  thinking: { type: "enabled", budget_tokens: 1024 }
}
const anthropicPaths = [
  ["messages"], ["messages", 1, "content"], ["messages", 1, "content", 0, "input"], ["messages", 2, "content"], ["messages", 2, "content", 0, "tool_use_id"], ["messages", 2, "content", 0, "content"],
  ["tools"], ["tools", 0], ["tools", 0, "input_schema"], ["tool_choice"], ["tool_choice", "type"], ["thinking"], ["thinking", "budget_tokens"], ["max_tokens"], ["system"]
]
const embedBody = { model: "all-minilm", input: ["a", "b"], dimensions: 8, encoding_format: "float" }
const embedPaths = [["input"], ["input", 0], ["dimensions"], ["encoding_format"], ["model"], ["truncate"]]

type Path = ReadonlyArray<string | number>
const withValue = (body: unknown, path: Path, value: unknown): unknown => {
  const copy = structuredClone(body) as Record<string | number, unknown>
  let at: Record<string | number, unknown> = copy
  for (const key of path.slice(0, -1)) {
    const next = at[key]
    if (typeof next !== "object" || next === null) return copy
    at = next as Record<string | number, unknown>
  }
  at[path[path.length - 1]!] = value
  return copy
}

interface Target {
  readonly name: string
  readonly kind: Simulator.Kind
  readonly args: ReadonlyArray<string>
  readonly routes: ReadonlyArray<{ readonly path: string; readonly body: unknown; readonly paths: ReadonlyArray<Path> }>
  readonly headers?: Record<string, string>
}

const targets: ReadonlyArray<Target> = [
  { name: "ollama", kind: "ollama", args: ["--models", "qwen3:8b,all-minilm"], routes: [
    { path: "/api/chat", body: ollamaBody, paths: ollamaPaths },
    { path: "/api/generate", body: { model: "qwen3:8b", prompt: "x", stream: false, format: schema, think: true }, paths: [["format"], ["think"], ["prompt"]] },
    { path: "/v1/chat/completions", body: { ...openAiBody, model: "qwen3:8b" }, paths: openAiPaths },
    { path: "/api/embed", body: embedBody, paths: embedPaths },
    { path: "/v1/embeddings", body: embedBody, paths: embedPaths }
  ] },
  { name: "mlx", kind: "mlx", args: ["--model", "M"], routes: [{ path: "/v1/chat/completions", body: openAiBody, paths: openAiPaths }] },
  { name: "openai", kind: "openai", args: ["--models", "*", "--reasoning-field", "reasoning_content"], headers: { authorization: "Bearer k" }, routes: [
    { path: "/v1/chat/completions", body: openAiBody, paths: openAiPaths },
    { path: "/v1/embeddings", body: { ...embedBody, model: "text-embedding-3-small" }, paths: embedPaths }
  ] },
  { name: "llamacpp", kind: "llamacpp", args: ["--embeddings", "--thinking"], routes: [
    { path: "/v1/chat/completions", body: openAiBody, paths: openAiPaths },
    { path: "/v1/embeddings", body: embedBody, paths: embedPaths }
  ] },
  { name: "anthropic", kind: "anthropic", args: [], headers: { "x-api-key": "k", "anthropic-version": "2023-06-01" }, routes: [
    { path: "/v1/messages", body: anthropicBody, paths: anthropicPaths },
    { path: "/v1/messages/count_tokens", body: anthropicBody, paths: anthropicPaths }
  ] }
]

const sims = new Map<string, Simulator.Running>()
beforeAll(async () => {
  for (const t of targets) sims.set(t.name, await Simulator.start(t.kind, { args: t.args }))
}, 60_000)
afterAll(() => Promise.all([...sims.values()].map((s) => s.stop())))

describe("hostile agent requests", () => {
  it.each(targets.map((t) => [t.name, t] as const))("%s answers every one (or drops it as the real server does) without hanging, crashing or a simulator bug", async (_name, target) => {
    const sim = sims.get(target.name)!
    const tally = { requests: 0, statuses: new Map<string, number>() }
    const problems: Array<string> = []
    for (const route of target.routes) {
      for (const path of route.paths) {
        for (const [i, value] of hostile.entries()) {
          for (const stream of [false, true]) {
            const body = withValue(withValue(route.body, ["stream"], stream), path, value)
            tally.requests += 1
            const started = Date.now()
            const outcome = await fetch(`${sim.url}${route.path}`, {
              method: "POST",
              headers: { "content-type": "application/json", ...target.headers },
              body: JSON.stringify(body),
              signal: AbortSignal.timeout(5_000)
            })
              .then(async (res) => ({ status: String(res.status), text: await res.text() }))
              .catch((e: unknown) => ({ status: e instanceof Error && e.name === "TimeoutError" ? "HANG" : "dropped", text: "" }))
            tally.statuses.set(outcome.status, (tally.statuses.get(outcome.status) ?? 0) + 1)
            const where = `${route.path} ${path.join(".")} = hostile[${i}] (stream ${stream})`
            if (outcome.status === "HANG") problems.push(`${where}: no answer in ${Date.now() - started}ms`)
            if (outcome.text.includes("simulator bug")) problems.push(`${where}: ${outcome.text.slice(0, 200)}`)
          }
        }
      }
    }
    // The process is still up and still answers a plain request.
    const alive = await fetch(`${sim.url}/__sim/state`)
    expect(alive.status).toBe(200)
    expect(await Promise.race([sim.exited.then(() => "exited"), new Promise((r) => setTimeout(() => r("running"), 50))])).toBe("running")
    console.log(`${target.name}: ${tally.requests} hostile requests, statuses ${JSON.stringify(Object.fromEntries(tally.statuses))}`)
    expect(problems).toEqual([])
  }, 240_000)
})
