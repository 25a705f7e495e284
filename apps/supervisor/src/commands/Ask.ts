/**
 * `local-router ask "prompt" [-c category] [--stream] [--json]`: one question, routed (`ask -`, or
 * `ask` with stdin piped, reads the question from stdin). Through
 * the running serve when one answers at routing.yaml's `server:` address (so the request shows
 * in its request log and on the status page), else by a router in this process; the output and
 * exit codes are the same either way, and `--json` says which (`via`).
 */
import * as Argument from "effect/cli/Argument"
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import type { Trace } from "@local-router/core"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import { jsonOption, routingFile } from "../CliConfig.ts"
import { CommandFailed, ExitCode } from "../ExitCode.ts"
import { root } from "../Root.ts"
import * as RunningServe from "../RunningServe.ts"

const category = Flag.String("category").pipe(
  Flag.withAlias("c"),
  Flag.withDescription("The category to route (default: default; see `local-router routes`)"),
  Flag.withDefault("default")
)
const stream = Flag.Boolean("stream").pipe(Flag.withDescription("Print tokens as they arrive"), Flag.withDefault(false))
const system = Flag.String("system").pipe(Flag.withDescription("A system prompt"), Flag.optional)

const usage = "local-router ask [flags] [<prompt>]"

/**
 * Is stdin something to read a prompt from without being told to: a pipe (`echo hi | ask`) or a
 * file (`ask < q.txt`)? Not a terminal, and not a socket or /dev/null, which is what a process
 * gets from a harness that never writes to it: reading those would wait forever.
 */
const stdinPiped = (): boolean => {
  try {
    const stat = fs.fstatSync(0)
    return stat.isFIFO() || stat.isFile()
  } catch {
    return false
  }
}

const readStdin = Effect.promise(async () => {
  const chunks: Array<Buffer> = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString("utf8").trim()
})

/** The prompt: the argument, or stdin with `-` (or with no argument, when stdin is piped). */
const promptOf = (given: Option.Option<string>) =>
  Effect.gen(function*() {
    if (Option.isSome(given) && given.value !== "-") return given.value
    const fromStdin = Option.isSome(given) || stdinPiped()
    const text = fromStdin ? yield* readStdin : ""
    if (text) return text
    return yield* new CommandFailed({
      code: ExitCode.notFound,
      reason: "Usage",
      message: fromStdin ? "the prompt read from stdin is empty" : "Missing required argument: prompt (give it, or - to read it from stdin)",
      details: { usage }
    })
  })

const summary = (trace: Trace.Trace, describe: (trace: Trace.Trace) => string) => {
  const fallbacks = trace.attempts.filter((a) => a.outcome === "failed").length
  return `answered by ${trace.backend} (${trace.model}) in ${Math.round(trace.durationMs)} ms` +
    (fallbacks ? ` after ${fallbacks} fallback${fallbacks > 1 ? "s" : ""}:\n${describe(trace)}` : "")
}

export const ask = Command.make(
  "ask",
  {
    prompt: Argument.String("prompt").pipe(
      Argument.withDescription("The question, or - to read it from stdin (read from stdin too when none is given and stdin is piped)"),
      Argument.optional
    ),
    category,
    stream,
    system,
    json: jsonOption
  },
  (args) =>
    Effect.gen(function*() {
      const prompt = yield* promptOf(args.prompt)
      const parent = yield* root
      const { Trace } = yield* Effect.promise(() => import("@local-router/core"))
      const request = { prompt, category: args.category, system: args.system._tag === "Some" ? args.system.value : undefined }
      const { headers, url } = yield* RunningServe.address(parent.config)
      const serve = yield* RunningServe.status(url, headers)
      const { r, via } = Option.isSome(serve)
        ? yield* Effect.map(Effect.promise(() => import("../ServeClient.ts")), (ServeClient) => ({
          r: { run: ServeClient.run(url, headers, request), stream: ServeClient.stream(url, headers, request) },
          via: `serve at ${url}`
        }))
        : yield* Effect.gen(function*() {
          const { router } = yield* routingFile
          const { router: inProcess } = yield* router(parent.config)
          return { r: { run: inProcess.run(request), stream: inProcess.stream(request) }, via: "in-process" }
        })
      if (!args.stream) {
        const answer = yield* r.run
        if (args.json) return yield* Console.log(JSON.stringify({ ...answer, via }, null, 2))
        yield* Console.log(answer.text)
        return yield* Console.error(summary(answer.trace, Trace.describe))
      }
      yield* r.stream.pipe(
        Stream.runForEach((event) => {
          if (args.json) return Console.log(JSON.stringify(event._tag === "Routed" ? { ...event, via } : event))
          switch (event._tag) {
            case "TextDelta":
              return Effect.sync(() => process.stdout.write(event.text))
            case "Done":
              return Effect.andThen(Effect.sync(() => process.stdout.write("\n")), Console.error(summary(event.trace, Trace.describe)))
            default:
              return Effect.void
          }
        })
      )
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("Ask a question; local-router picks the backend for the category and falls back as needed"))
