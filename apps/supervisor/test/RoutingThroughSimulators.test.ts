/**
 * The repo's own routing.yaml, pointed at simulators running as real processes: the original
 * system's behaviour end to end (MLX -> Ollama -> cloud for text; Moondream -> Ollama for
 * images; llava for PDF pages), with the trace saying what was tried and why.
 */
import { createHash } from "node:crypto"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createRouter } from "../src/index.ts"
import * as SimulatedSetup from "../src/demo/SimulatedSetup.ts"

const repo = path.resolve(import.meta.dirname, "../../..")
// A 1x1 PNG: real image bytes whose hash the simulators record.
const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64")
const sha = createHash("sha256").update(png).digest("hex")

let setup: SimulatedSetup.SimulatedSetup
let router: Awaited<ReturnType<typeof createRouter>>

beforeAll(async () => {
  setup = await SimulatedSetup.start({ config: path.join(repo, "routing.yaml") })
  Object.assign(process.env, setup.env)
  router = await createRouter({ config: setup.file, watch: false })
}, 60_000)

afterAll(async () => {
  await router?.close()
  await setup?.stop()
})

const image = (question: string) => ({ role: "user" as const, content: question, images: [{ data: new Uint8Array(png), mime: "image/png" }] })

describe("the repo's routing.yaml against simulators", () => {
  it("vision goes to Moondream Station first, with the image bytes intact", async () => {
    const answer = await router.runLocalLlm({ category: "vision", messages: [image("What is in this picture?")] })
    expect(answer.backend).toBe("moondream")
    const seen = await setup.sims.moondream.requests()
    expect(JSON.stringify(seen)).toContain(sha)
  })

  it("vision_pdf reaches Ollama llava:7b (Moondream has no model for it)", async () => {
    const answer = await router.runLocalLlm({ category: "vision_pdf", messages: [image("Read this page")] })
    expect(answer).toMatchObject({ backend: "ollama", model: "llava:7b" })
    expect(answer.trace.attempts[0]).toMatchObject({ backend: "moondream", outcome: "skipped", reason: "no model for this category" })
    expect(answer.text).toContain(sha.slice(0, 12))
  })

  it("when Moondream Station is down, vision falls back to Ollama moondream", async () => {
    await setup.sims.moondream.setFaults([{ kind: "status", status: 500 }])
    const answer = await router.runLocalLlm({ category: "vision", messages: [image("What is this?")] })
    await setup.sims.moondream.clearFaults()
    expect(answer).toMatchObject({ backend: "ollama", model: "moondream" })
    expect(answer.trace.attempts[0]).toMatchObject({ backend: "moondream", outcome: "failed" })
  })

  it("fast answers from MLX; kill MLX and Ollama phi3.5:3.8b answers; stop Ollama and the cloud answers", async () => {
    const first = await router.runLocalLlm("Say hello", "fast")
    expect(first).toMatchObject({ backend: "mlx", model: "mlx-community/Phi-3.5-mini-instruct-4bit" })
    expect(first.text.length).toBeGreaterThan(0)

    setup.sims.mlx.kill("SIGKILL")
    await setup.sims.mlx.exited
    const second = await router.runLocalLlm("Say hello", "fast")
    expect(second).toMatchObject({ backend: "ollama", model: "phi3.5:3.8b" })
    expect(second.trace.attempts.map((a) => [a.backend, a.outcome, a.reason])).toEqual([
      ["mlx", "failed", "Unreachable"],
      ["ollama", "answered", undefined]
    ])

    await setup.sims.ollama.stop()
    const third = await router.runLocalLlm("Say hello", "fast")
    expect(third).toMatchObject({ backend: "cloud", model: "gpt-4o-mini" })
    expect(third.trace.attempts.map((a) => [a.backend, a.outcome, a.reason])).toEqual([
      ["mlx", "failed", "Unreachable"],
      ["ollama", "failed", "Unreachable"],
      ["cloud", "answered", undefined]
    ])
  })
})
