/**
 * `local-router pdf <file> [--pages] [--text-first] [--json]`: each page rendered and read by a
 * vision model (or, with --text-first, its text layer sent to a text model). A progress bar on
 * a terminal; JSON lines otherwise, one per event, so scripts can follow along.
 */
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { existingFile, jsonOption, routingFile } from "../CliConfig.ts"
import { CommandFailed, ExitCode } from "../ExitCode.ts"
import { root } from "../Root.ts"

const pages = Flag.String("pages").pipe(Flag.withDescription('Pages to read, e.g. "1-3,7" (default: all)'), Flag.optional)
const textFirst = Flag.Boolean("text-first").pipe(
  Flag.withDescription("Send pages that have a real text layer to a text model instead of rendering them"),
  Flag.withDefault(false)
)
const prompt = Flag.String("prompt").pipe(Flag.withDescription("What to ask about each page"), Flag.optional)
const category = Flag.String("category").pipe(Flag.withDescription("The vision category (default vision_pdf)"), Flag.withDefault("vision_pdf"))
const concurrency = Flag.Int("concurrency").pipe(
  Flag.withDescription("Pages in flight at once (default 2)"),
  Flag.filter((n) => n >= 1, () => "Expected an integer of at least 1"),
  Flag.withDefault(2)
)
const password = Flag.String("password").pipe(Flag.withDescription("Password of an encrypted PDF"), Flag.optional)

export const pdf = Command.make(
  "pdf",
  { file: existingFile("file", "The PDF to read"), pages, textFirst, prompt, category, concurrency, password, json: jsonOption },
  (args) =>
    Effect.gen(function*() {
      const parent = yield* root
      const { router } = yield* routingFile
      const { router: r } = yield* router(parent.config)
      const { Vision } = yield* Effect.promise(() => import("@local-router/vision"))
      const vision = yield* Vision.make(r)
      const lines = args.json || !process.stderr.isTTY
      const bar = lines ? undefined : yield* progressBar
      const failed: Array<number> = []
      let finished: { readonly pages: number; readonly succeeded: number; readonly durationMs: number } | undefined
      yield* vision.processPdf(args.file, {
        pages: Option.getOrUndefined(args.pages),
        textFirst: args.textFirst,
        prompt: Option.getOrUndefined(args.prompt),
        category: args.category,
        concurrency: args.concurrency,
        password: Option.getOrUndefined(args.password)
      }).pipe(
        Stream.runForEach((event) =>
          Effect.gen(function*() {
            if (event._tag === "PageFailed") failed.push(event.page)
            if (event._tag === "Finished") finished = event
            if (lines) return yield* Console.log(JSON.stringify(event))
            switch (event._tag) {
              case "Opened":
                return bar?.start(event.pages.length, 0, { page: "-" })
              case "PageStarted":
                return bar?.update({ page: String(event.page) })
              case "PageDone":
                bar?.increment()
                return yield* Effect.sync(() =>
                  process.stdout.write(`\n── page ${event.page} (${event.result.path} via ${event.result.backend}/${event.result.model})\n${event.result.answer}\n`)
                )
              case "PageFailed":
                bar?.increment()
                return yield* Console.error(`\n── page ${event.page} failed: ${event.error.message}`)
              case "Finished":
                return bar?.stop()
            }
          })
        )
      )
      // One summary line however the output goes (bar, JSON lines, a pipe); a page that failed
      // makes the whole command fail (exit 3), so a script never takes a partial read for a full one.
      const read = finished ? `${finished.succeeded} of ${finished.pages} pages read in ${Math.round(finished.durationMs)} ms` : "no pages read"
      if (failed.length > 0) {
        failed.sort((a, b) => a - b)
        return yield* new CommandFailed({
          code: ExitCode.noAnswer,
          reason: "PagesFailed",
          message: `${read}; ${failed.length} failed (page${failed.length === 1 ? "" : "s"} ${failed.join(", ")})`,
          details: { failedPages: failed, pages: finished?.pages ?? null, succeeded: finished?.succeeded ?? 0 }
        })
      }
      if (!args.json) yield* Console.error(read)
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("Read a PDF page by page with a vision model (pages rendered locally with pdfjs-dist)"))

const progressBar = Effect.promise(async () => {
  const { default: Progress } = await import("cli-progress")
  return new Progress.SingleBar(
    { format: "{bar} {value}/{total} pages | page {page} | {duration}s", stream: process.stderr, hideCursor: true },
    Progress.Presets.shades_classic
  )
})
