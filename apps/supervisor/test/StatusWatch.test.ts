/** What `local-router status --watch` prints for one event of the status stream. */
import { describe, expect, it } from "vitest"
import { models, screen } from "../src/commands/Status.ts"

describe("status --watch", () => {
  it("shows servers, each category's route with the reasons that matter, and recent requests without prompt text", () => {
    const text = screen({
      supervisor: {
        servers: [
          { name: "mlx", phase: "backing-off", reason: "killed by SIGKILL; starting again in 250ms", restarts: 1, lastLines: [] } as never,
          { name: "ollama", phase: "ready", reason: "answers", pid: 42, uptimeMs: 65_000, restarts: 0, models: { present: ["phi3.5:3.8b"], missing: [] }, lastLines: [] } as never
        ],
        configError: null
      },
      router: {
        routes: [{
          category: "fast",
          answer: { backend: "ollama", model: "phi3.5:3.8b" },
          candidates: [{ backend: "mlx", skip: "server backing-off" }, { backend: "cloud", skip: "no model for this category" }, { backend: "ollama" }]
        }]
      },
      requests: {
        recent: [{ at: Date.now(), category: "fast", backend: "ollama", model: "phi3.5:3.8b", attempts: 2, ttftMs: 120, totalMs: 900, outcome: "answered" }]
      }
    }, "http://127.0.0.1:4141")
    expect(text).toContain("local-router at http://127.0.0.1:4141")
    expect(text).toMatch(/mlx\s+backing-off/)
    expect(text).toContain("mlx: killed by SIGKILL; starting again in 250ms")
    expect(text).toMatch(/ollama\s+ready\s+42\s+1m5s/)
    expect(text).toMatch(/fast\s+-> ollama \(phi3\.5:3\.8b\)\s+\[mlx: server backing-off\]/)
    expect(text).not.toContain("cloud: no model")
    expect(text).toMatch(/fast\s+ollama \(phi3\.5:3\.8b\)\s+2 tries\s+first 120ms\s+total 900ms\s+answered/)
  })
})

describe("status: a server's models", () => {
  it.each([
    ["Ollama with one model in memory", { models: { present: ["phi3.5:3.8b", "llava:7b"], missing: [], loaded: ["phi3.5:3.8b"] }, canPull: true }, "2 present (loaded: phi3.5:3.8b)"],
    ["nothing reported in memory (or the server cannot tell): no loaded part", { models: { present: ["m"], missing: [], loaded: [] }, canPull: false }, "1 present"],
    ["missing on a server that can pull", { models: { present: [], missing: ["llava:7b"], loaded: [] }, canPull: true }, "0 present, missing: llava:7b"],
    ["missing on Moondream, which cannot pull", { models: { present: [], missing: ["moondream-9"], loaded: [] }, canPull: false }, "0 present, missing: moondream-9 (cannot pull)"],
    ["no probe listed models yet", { models: undefined, canPull: true }, "-"]
  ] as const)("%s", (_name, server, text) => {
    expect(models(server as never)).toBe(text)
  })
})
