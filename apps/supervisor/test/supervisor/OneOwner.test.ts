/**
 * routing.yaml has one owner: LiveRouting reads and watches it, makes each backend once per
 * version, and the router and the supervisor both follow it. A backend here counts how often
 * it is made and probed, and always answers its probe, so the supervisor adopts it (no process).
 */
import { describe, expect, it } from "@effect/vitest"
import { Backend, LiveRouting, Router } from "@local-router/core"
import { ScriptedBackend } from "@local-router/core/testing"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as References from "effect/References"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as path from "node:path"
import type * as Server from "../../src/supervisor/Server.ts"
import * as Supervise from "../../src/supervisor/Supervise.ts"
import * as Supervisor from "../../src/supervisor/Supervisor.ts"
import { freePort, tempDir } from "./Fixture.ts"

interface Made {
  readonly name: string
  readonly reply: string
  readonly backend: Backend.Backend
  probes: number
}

const counted = (made: Array<Made>) =>
  Backend.plugin({
    name: "counted",
    contract: Backend.CONTRACT_VERSION,
    version: "0.0.1",
    options: Schema.Struct({ reply: Schema.String }),
    make: ({ name, options }) =>
      Effect.sync(() => {
        const scripted = ScriptedBackend.make({ name, script: [{ tokens: [options.reply] }] })
        const entry: Made = {
          name,
          reply: options.reply,
          probes: 0,
          backend: {
            ...scripted.backend,
            probe: Effect.sync(() => {
              entry.probes++
              return Backend.Probe.Ready({ models: ["THING"], loaded: [] })
            })
          }
        }
        made.push(entry)
        return entry.backend
      }),
    supervise: () => ({ command: "counted-server", args: [] }),
    // The server lists `THING` for the `thing` routing.yaml names: only the definition knows that.
    normalizeModel: (name) => name.toLowerCase()
  })

const config = (ports: readonly [number, number], replyA: string) => `
backends:
  a: { type: counted, url: "http://127.0.0.1:${ports[0]}", reply: "${replyA}" }
  b: { type: counted, url: "http://127.0.0.1:${ports[1]}", reply: bee }
priorities:
  text: [a, b]
categories:
  fast:
    input: text
    models: { a: thing, b: thing }
`

const setup = (watch: boolean) =>
  Effect.gen(function*() {
    const made: Array<Made> = []
    const ports = [yield* Effect.promise(freePort), yield* Effect.promise(freePort)] as const
    const file = path.join(tempDir(), "routing.yaml")
    fs.writeFileSync(file, config(ports, "one"))
    const builtins = new Map<string, Backend.Definition>([["counted", counted(made) as Backend.Definition]])
    // Composed the way an application would: the supervisor's layer on LiveRouting's.
    const context = yield* Layer.build(Supervisor.layer({ logDir: path.join(path.dirname(file), "logs") }).pipe(
      Layer.provideMerge(LiveRouting.layer(file, { builtins, superviseSchema: Supervise.Field, watch, debounce: "20 millis" }))
    ))
    const live = Context.get(context, LiveRouting.LiveRouting)
    const supervisor = Context.get(context, Supervisor.Supervisor)
    const router = yield* Router.make(live.snapshot)
    return { made, ports, file, live, supervisor, router }
  })

const first = <A>(stream: Stream.Stream<A>, predicate: (a: A) => boolean) =>
  stream.pipe(Stream.filter(predicate), Stream.runHead, Effect.map(Option.getOrThrow))

const serverOf = (supervisor: Supervisor.Supervisor, name: string) =>
  Effect.flatMap(supervisor.server(name), (s) => (s ? Effect.succeed(s) : Effect.die(new Error(`no server ${name}`))))

const adopted = (server: Server.Server) => first(server.changes, (s) => s.phase === "adopted")

const quiet = Effect.provideService(References.MinimumLogLevel, "None")

describe("one owner of routing.yaml", () => {
  it.effect("an edit makes one new backend, and the router and the supervisor move to its version together", () =>
    Effect.gen(function*() {
      const { file, live, made, ports, router, supervisor } = yield* setup(false)
      expect(made.map((m) => m.name)).toEqual(["a", "b"])
      const a1 = yield* serverOf(supervisor, "a")
      const b1 = yield* serverOf(supervisor, "b")
      // Probed through the router's own backend; its models compared the way the definition says.
      expect(yield* adopted(a1)).toMatchObject({ models: { present: ["thing"], missing: [] } })
      yield* adopted(b1)
      const v1 = yield* live.snapshot
      const slot = v1.backends.get("a")
      expect(slot?._tag === "Ready" && slot.backend).toBe(made[0]!.backend)
      expect(made[0]!.probes).toBeGreaterThan(0)
      expect((yield* supervisor.snapshot).version).toBe(1)

      fs.writeFileSync(file, config(ports, "two"))
      expect(yield* live.reload).toMatchObject({ _tag: "Applied", version: 2, changed: ["a"] })
      yield* first(supervisor.versions, (v) => v === 2)

      // One parse, one new backend: only `a` was made again, and only once.
      expect(made.map((m) => `${m.name}:${m.reply}`)).toEqual(["a:one", "b:bee", "a:two"])
      const v2 = yield* live.snapshot
      expect(v2.version).toBe(2)
      expect((yield* supervisor.snapshot).version).toBe(2)
      const answer = yield* router.run({ category: "fast", prompt: "x" })
      expect(answer).toMatchObject({ text: "two", trace: { configVersion: 2 } })
      const a2 = yield* serverOf(supervisor, "a")
      expect(a2).not.toBe(a1)
      expect(yield* serverOf(supervisor, "b")).toBe(b1)
      expect((yield* a1.status).phase).toBe("stopped")
      yield* adopted(a2)
      expect(made[2]!.probes).toBeGreaterThan(0)

      // A rejected edit reaches neither: both stay on version 2, the status says why.
      fs.writeFileSync(file, config(ports, "three").replace("input: text", "input: txet"))
      expect((yield* live.reload)._tag).toBe("Rejected")
      const after = yield* supervisor.snapshot
      expect(after.version).toBe(2)
      expect(after.configError).toMatch(/routing\.yaml:\d+:\d+ categories\.fast\.input/)
      expect(made).toHaveLength(3)
    }).pipe(quiet))

  it.live("an edit saved on disk is read once by the one watcher, and the supervisor runs the router's version", () =>
    Effect.gen(function*() {
      const { file, live, made, ports, router, supervisor } = yield* setup(true)
      yield* adopted(yield* serverOf(supervisor, "a"))
      // The way editors save: a new file renamed over the old one.
      fs.writeFileSync(`${file}.tmp`, config(ports, "two"))
      fs.renameSync(`${file}.tmp`, file)
      yield* first(supervisor.versions, (v) => v === 2).pipe(Effect.timeout("5 seconds"))
      expect(made.map((m) => `${m.name}:${m.reply}`)).toEqual(["a:one", "b:bee", "a:two"])
      expect((yield* live.snapshot).version).toBe(2)
      expect((yield* router.run({ category: "fast", prompt: "x" })).trace.configVersion).toBe(2)
      const a = yield* adopted(yield* serverOf(supervisor, "a"))
      expect(a.models).toEqual({ present: ["thing"], missing: [], loaded: [] })
      expect(made[2]!.probes).toBeGreaterThan(0)
    }).pipe(quiet))
})
