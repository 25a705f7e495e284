/**
 * `local-router demo`: the repo's routing.yaml against simulated servers, so anyone can watch
 * routing and fallback on any machine. It says plainly that the backends are simulated.
 */
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import type { Router, Trace } from "@local-router/core"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as fs from "node:fs"
import * as path from "node:path"
import { routingFile } from "../CliConfig.ts"

// The repo's commented routing.yaml: next to package.json in the installed package (scripts/pack.js
// puts it there), at the repo's root in a clone (this file is apps/supervisor/{src,dist}/commands/).
const repoConfig = [path.resolve(import.meta.dirname, "../../routing.yaml"), path.resolve(import.meta.dirname, "../../../../routing.yaml")]
  .find((file) => fs.existsSync(file)) ?? path.resolve(import.meta.dirname, "../../../../routing.yaml")
// A 1x1 PNG, enough for the simulated vision servers to show which bytes they received.
const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64")

const tokenMs = Flag.Int("token-ms").pipe(
  Flag.withDescription("Delay per simulated token, in milliseconds (default 40)"),
  Flag.filter((n) => n >= 0, () => "Expected an integer of at least 0"),
  Flag.withDefault(40)
)
const keep = Flag.Boolean("keep").pipe(Flag.withDescription("Keep the simulators running after the tour (Ctrl-C stops)"), Flag.withDefault(false))

const show = (router: Router.Router, describe: typeof Trace.describe, title: string, request: Router.Request) =>
  Effect.gen(function*() {
    yield* Console.log(`\n▶ ${title}\n  category "${request.category}"`)
    yield* Effect.sync(() => process.stdout.write("  "))
    // Text as it streams; a tool call as its name, then its arguments as they arrive.
    const print = (event: Router.Event): string | undefined =>
      event._tag === "TextDelta"
        ? event.text
        : event._tag === "ToolCallStart"
        ? `${event.index === 0 ? "" : "\n  "}tool call ${event.name}(`
        : event._tag === "ToolCallDelta"
        ? event.arguments
        : event._tag === "ToolCallEnd"
        ? ")"
        : undefined
    const done = yield* router.stream(request).pipe(
      Stream.tap((event) => {
        const text = print(event)
        return text === undefined ? Effect.void : Effect.sync(() => process.stdout.write(text))
      }),
      Stream.runLast,
      Effect.result
    )
    if (Result.isFailure(done)) return yield* Console.log(`\n  ✗ ${done.failure.message}`)
    const last = done.success
    if (last._tag === "Some" && last.value._tag === "Done") {
      const trace = last.value.trace
      yield* Console.log(`\n  answered by ${trace.backend} (${trace.model})\n${describe(trace).replace(/^/gm, "    · ")}`)
    }
    // What this request did to the circuits, so "its circuit opens" is seen, not taken on trust.
    const open = Object.entries(yield* router.circuits).filter(([, state]) => state !== "closed")
    if (open.length > 0) yield* Console.log(`  circuit ${open.map(([backend, state]) => `${backend}: ${state}`).join(", ")}`)
  })

export const demo = Command.make("demo", { tokenMs, keep }, (args) =>
  Effect.gen(function*() {
    yield* Console.log(
      "local-router demo — the backends below are SIMULATED: fake MLX, Ollama, Moondream Station and\n" +
        "OpenAI servers started on this machine. Nothing is sent to the internet and no model runs."
    )
    const setup = yield* Effect.acquireRelease(
      // The simulators are loaded here only: `serve` and the other commands never carry them.
      Effect.promise(() => import("../demo/SimulatedSetup.ts").then((s) => s.start({ config: repoConfig, tokenMs: args.tokenMs }))),
      (s) => Effect.promise(() => s.stop())
    )
    Object.assign(process.env, setup.env)
    for (const [name, sim] of Object.entries(setup.sims)) yield* Console.log(`  simulated ${name.padEnd(9)} ${sim.url}`)
    yield* Console.log(`  routing.yaml pointed at them: ${setup.file}`)
    const { loaderOptions } = yield* routingFile
    const { LiveRouting, Router, Trace } = yield* Effect.promise(() => import("@local-router/core"))
    const live = yield* LiveRouting.make(setup.file, { ...loaderOptions, watch: false })
    // Circuits live in a router: each story gets a fresh one, so what one story did to a backend
    // (a circuit it opened) never decides what the next one shows.
    let router = yield* Router.make(live.snapshot)
    const freshRouter = Effect.map(Router.make(live.snapshot), (made) => void (router = made))
    const step = (title: string, request: Router.Request) => Effect.suspend(() => show(router, Trace.describe, title, request))
    const image = { role: "user" as const, content: "What is in this picture?", images: [{ data: new Uint8Array(png), mime: "image/png" }] }

    yield* step("Everything up: fast goes to MLX first", { category: "fast", prompt: "Explain local routing in one line" })
    yield* step("An image: vision goes to Moondream Station", { category: "vision", messages: [image] })
    yield* step("A PDF page: vision_pdf goes to Ollama llava:7b", { category: "vision_pdf", messages: [image] })
    yield* Effect.promise(async () => {
      setup.sims.mlx.kill("SIGKILL")
      await setup.sims.mlx.exited
    })
    yield* step("MLX killed (kill -9): the same request falls back to Ollama, invisibly", { category: "fast", prompt: "Explain local routing in one line" })
    yield* Effect.promise(() => setup.sims.ollama.setFaults([{ kind: "status", status: 503, message: "server busy, please try again." }]))
    yield* step("Ollama now answers 503 busy: the cloud is the last resort", { category: "fast", prompt: "Explain local routing in one line" })
    yield* step("MLX fails a third time in a row: its circuit opens", { category: "fast", prompt: "And again" })
    yield* step("The next request skips MLX at once (circuit open) instead of waiting on it", { category: "fast", prompt: "Once more" })
    // A new story: Ollama's circuit, opened by its 503s above, starts closed again.
    yield* freshRouter
    yield* Effect.promise(() => setup.sims.ollama.setFaults([{ kind: "cutAfterTokens", tokens: 3 }]))
    yield* step("Ollama cuts its stream mid-answer: an explicit error, never a silently short answer", {
      category: "tiny",
      prompt: "Count to ten"
    })
    // A coding agent's turn: tools offered, the model asked to call one. A fresh router (as after
    // a restart) so MLX, still dead, is tried again rather than skipped by its open circuit.
    yield* freshRouter
    yield* step("A tool call (category code): MLX is dead, Ollama's phi3.5 has no tool support, the cloud makes the call", {
      category: "code",
      prompt: "What is the weather in Paris? Call get_weather city=Paris",
      tools: [
        {
          name: "get_weather",
          description: "Current weather for a city",
          parameters: { type: "object", properties: { city: { type: "string" }, unit: { type: "string", enum: ["celsius", "fahrenheit"] } }, required: ["city"] }
        }
      ]
    })
    if (args.keep) {
      yield* Console.log(`\nSimulators keep running. Try:\n  ./run local-router --config ${setup.file} ask "hello" -c fast\nCtrl-C stops them.`)
      yield* Effect.never
    }
  }).pipe(Effect.scoped)).pipe(Command.withDescription("Watch routing and fallback live against simulated servers (no real models needed)"))
