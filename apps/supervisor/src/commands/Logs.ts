/**
 * `local-router logs [-n N] [--follow] [--json] [--file FILE]`: serve's request log, one line per
 * routed request (when, status, outcome, dialect, category -> backend/model, attempts, first
 * token, total time, bytes), the last N lines, then with --follow each new one as it is written,
 * across rotations. The log is serve/RequestFile.ts's; this file only declares the options.
 */
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { jsonOption } from "../CliConfig.ts"

export const logs = Command.make("logs", {
  lines: Flag.Int("lines").pipe(Flag.withAlias("n"), Flag.withDescription("How many of the last requests to show first"), Flag.withDefault(20)),
  follow: Flag.Boolean("follow").pipe(Flag.withAlias("f"), Flag.withDescription("Keep printing requests as serve logs them; Ctrl-C stops"), Flag.withDefault(false)),
  file: Flag.String("file").pipe(
    Flag.withDescription("The request log to read (default: requests.jsonl in the log directory, where serve writes it)"),
    Flag.optional
  ),
  json: jsonOption
}, ({ file, follow, json, lines }) =>
  Effect.gen(function*() {
    const RequestFile = yield* Effect.promise(() => import("../serve/RequestFile.ts"))
    const path = Option.getOrElse(file, () => RequestFile.defaultFile())
    const show = (line: string) => Console.log(json ? line : RequestFile.format(line))
    const last = RequestFile.lastLines(path, Math.max(0, lines))
    if (last.length === 0 && !follow) return yield* Console.error(`no requests logged yet at ${path}`)
    for (const line of last) yield* show(line)
    if (follow) yield* Stream.runForEach(RequestFile.follow(path), show)
  })).pipe(Command.withDescription("Show serve's request log (the last requests; --follow to keep watching)"))
