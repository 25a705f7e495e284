/**
 * `local-router ask "prompt" [-c category] [--stream] [--json]`: one question, routed. Through
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
import { jsonOption, routingFile } from "../CliConfig.ts"
import { root } from "../Root.ts"
import * as RunningServe from "../RunningServe.ts"

const category = Flag.String("category").pipe(
  Flag.withAlias("c"),
  Flag.withDescription("The category to route (see `local-router routes`)"),
  Flag.withDefault("default")
)
const stream = Flag.Boolean("stream").pipe(Flag.withDescription("Print tokens as they arrive"), Flag.withDefault(false))
const system = Flag.String("system").pipe(Flag.withDescription("A system prompt"), Flag.optional)

const summary = (trace: Trace.Trace, describe: (trace: Trace.Trace) => string) => {
  const fallbacks = trace.attempts.filter((a) => a.outcome === "failed").length
  return `answered by ${trace.backend} (${trace.model}) in ${Math.round(trace.durationMs)} ms` +
    (fallbacks ? ` after ${fallbacks} fallback${fallbacks > 1 ? "s" : ""}:\n${describe(trace)}` : "")
}

export const ask = Command.make(
  "ask",
  { prompt: Argument.String("prompt"), category, stream, system, json: jsonOption },
  (args) =>
    Effect.gen(function*() {
      const parent = yield* root
      const { Trace } = yield* Effect.promise(() => import("@local-router/core"))
      const request = { prompt: args.prompt, category: args.category, system: args.system._tag === "Some" ? args.system.value : undefined }
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
