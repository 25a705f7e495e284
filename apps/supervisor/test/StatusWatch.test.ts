/** What `local-router status --watch` prints for one event of the status stream. */
import { describe, expect, it } from "vitest"
import { screen } from "../src/commands/Status.ts"

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
