/** `local-router describe` and `local-router pdf`, as a person runs them, against simulated servers. */
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Limits, PdfDocument, RenderPool } from "@local-router/vision"
import * as Effect from "effect/Effect"
import { createHash } from "node:crypto"
import * as MinimalPdf from "../../../packages/vision/test/support/MinimalPdf.ts"
import * as SimulatedSetup from "../src/demo/SimulatedSetup.ts"

const repo = path.resolve(import.meta.dirname, "../../..")
const bin = path.join(repo, "apps/supervisor/dist/bin.js")
/** A page rendered on its own, outside local-router: what the simulator must have received. */
const renderAlone = (pdf: Uint8Array, page: number) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const pool = yield* RenderPool.make(Limits.defaults, 1)
    const doc = yield* PdfDocument.open(pdf, "reference", { limits: Limits.defaults, pool })
    return yield* doc.render(page)
  })))
const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex")

const png = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==", "base64")

let setup: SimulatedSetup.SimulatedSetup
beforeAll(async () => {
  setup = await SimulatedSetup.start({ config: path.join(repo, "routing.yaml") })
}, 60_000)
afterAll(() => setup?.stop())

const cli = async (args: ReadonlyArray<string>) => {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin, "--config", setup.file, ...args], {
      env: { ...process.env, ...setup.env, NO_COLOR: "1" }
    })
    return { code: 0, stdout, stderr }
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

describe("describe and pdf from the command line", () => {
  it("describe <image> answers from Moondream Station with the image it was given", async () => {
    const file = path.join(setup.dir, "pixel.png")
    fs.writeFileSync(file, png)
    const { code, stdout } = await cli(["describe", file, "--json"])
    expect(code).toBe(0)
    const answer = JSON.parse(stdout) as { backend: string; answer: string; image: { width: number } }
    expect(answer.backend).toBe("moondream")
    expect(answer.image.width).toBe(1)
    expect(answer.answer.length).toBeGreaterThan(0)
  })

  it("describe refuses a file that is not an image, with a clear message and exit code 4", async () => {
    const file = path.join(setup.dir, "notes.png")
    fs.writeFileSync(file, "just some text, not a picture")
    const { code, stderr } = await cli(["describe", file])
    expect(code).toBe(4)
    expect(stderr).toMatch(/local-router: .*(not|unsupported|format)/i)
    expect(stderr).not.toMatch(/\n\s+at /)
  })

  it("pdf --json streams one JSON line per event; each page's rendered image reaches llava", async () => {
    const file = path.join(setup.dir, "report.pdf")
    const bytes = MinimalPdf.make({ pages: [{ lines: ["Quarterly report"] }, { lines: ["Page two"] }, { lines: ["Page three"] }] })
    fs.writeFileSync(file, bytes)
    await setup.sims.ollama.clearRequests()
    const { code, stdout } = await cli(["pdf", file, "--pages", "1,3", "--json"])
    expect(code).toBe(0)
    const events = stdout.trim().split("\n").map((l) => JSON.parse(l) as { _tag: string; page?: number; result?: { backend: string; model: string; path: string; text: string } })
    expect(events[0]!._tag).toBe("Opened")
    expect(events.at(-1)!._tag).toBe("Finished")
    const done = events.filter((e) => e._tag === "PageDone")
    expect(done.map((e) => e.page)).toEqual([1, 3])
    expect(done[0]!.result).toMatchObject({ backend: "ollama", model: "llava:7b", path: "vision" })
    expect(done[0]!.result!.text).toContain("Quarterly report")
    const seen = await setup.sims.ollama.requests()
    const images = seen.flatMap((r) => (r as { images?: ReadonlyArray<{ sha256: string }> }).images ?? [])
    expect(images).toHaveLength(2)
    const expected = await Promise.all([renderAlone(bytes, 1), renderAlone(bytes, 3)])
    expect(images.map((i) => i.sha256).sort()).toEqual(expected.map((r) => sha(r.png)).sort())
  })

  it("pdf --text-first sends pages with a real text layer to a text model instead", async () => {
    const file = path.join(setup.dir, "text.pdf")
    const lines = Array.from({ length: 6 }, (_, i) => `Line ${i + 1} of a page with a real text layer.`)
    fs.writeFileSync(file, MinimalPdf.make({ pages: [{ lines }] }))
    const { code, stdout } = await cli(["pdf", file, "--text-first", "--json"])
    expect(code).toBe(0)
    const page = stdout.trim().split("\n").map((l) => JSON.parse(l) as { _tag: string; result?: { path: string; backend: string } }).find((e) => e._tag === "PageDone")
    expect(page?.result).toMatchObject({ path: "text", backend: "mlx" })
  })
})
