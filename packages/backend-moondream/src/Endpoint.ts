/**
 * Where Moondream Station answers. Station takes the next free port when its configured one
 * is busy and writes the port it took back to `~/.moondream-station/config.json` as
 * `service_port` (protocols.md §3.1), so the drift is sticky. When the URL from routing.yaml
 * does not answer, the port named in that file is the one to try.
 */
import { type BackendError, HttpCall } from "@local-router/core"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { readFile } from "node:fs/promises"
import { homedir } from "node:os"
import { isAbsolute, join, resolve } from "node:path"

export interface Endpoint {
  /** Base of the function routes, e.g. http://127.0.0.1:2020/v1 (caption = `${api}/caption`). */
  readonly api: string
  /** Where `/health` is, e.g. http://127.0.0.1:2020. */
  readonly origin: string
  readonly port: number
}

export const DEFAULT_STATION_URL = "http://127.0.0.1:2020/v1"
export const DEFAULT_CLOUD_URL = "https://api.moondream.ai/v1"

export const parse = (url: string): Endpoint => {
  const parsed = new URL(url)
  const port = parsed.port === "" ? (parsed.protocol === "https:" ? 443 : 80) : Number(parsed.port)
  return { api: url.replace(/\/+$/, ""), origin: parsed.origin, port }
}

/** The same endpoint on another port (Station keeps its host and path when it drifts). */
export const onPort = (endpoint: Endpoint, port: number): Endpoint => {
  const api = new URL(endpoint.api)
  api.port = String(port)
  return parse(api.toString())
}

/** The home directory from the options: `~` expanded, relative paths from routing.yaml's folder. */
export const homeOf = (home: string | undefined, configDir: string): string => {
  if (home === undefined) return homedir()
  if (home === "~" || home.startsWith("~/")) return join(homedir(), home.slice(1))
  return isAbsolute(home) ? home : resolve(configDir, home)
}

export const configFile = (home: string): string => join(home, ".moondream-station", "config.json")

/** The port Station recorded, or why there is none (for the probe detail). */
export const recordedPort = (home: string): Effect.Effect<Result.Result<number, string>> => {
  const file = configFile(home)
  return Effect.tryPromise(() => readFile(file, "utf8")).pipe(
    Effect.map((text) => {
      try {
        const port = (JSON.parse(text) as { service_port?: unknown }).service_port
        return typeof port === "number" && Number.isInteger(port) && port > 0 && port < 65536
          ? Result.succeed(port)
          : Result.fail(`${file} names no service_port`)
      } catch {
        // An unreadable config file is a fact for the detail, not a failure of the probe.
        return Result.fail(`${file} is not JSON`)
      }
    }),
    Effect.catch(() => Effect.succeed(Result.fail(`no ${file}`)))
  )
}

/** `/health` at this endpoint: true when Station answers, false when something else does. */
export const health = (backend: string, endpoint: Endpoint): Effect.Effect<boolean, BackendError.BackendError> =>
  HttpCall.json({ backend, url: `${endpoint.origin}/health` }).pipe(
    Effect.map((body) => typeof body === "object" && body !== null && (body as { server?: unknown }).server === "moondream-station")
  )

/** Whether Station (and not something else, or nothing) answers at this endpoint. */
export const isStation = (backend: string, endpoint: Endpoint): Effect.Effect<boolean> =>
  Effect.orElseSucceed(health(backend, endpoint), () => false)

/**
 * Looks for Station elsewhere after `failed` did not answer: at the port config.json names,
 * and at the configured endpoint if we had moved away from it. Success(endpoint) when found,
 * Failure(what was tried) when not.
 */
export const rediscover = (
  backend: string,
  configured: Endpoint,
  failed: Endpoint,
  home: string
): Effect.Effect<Result.Result<Endpoint, string>> =>
  Effect.gen(function*() {
    const recorded = yield* recordedPort(home)
    const candidates = [
      ...(Result.isSuccess(recorded) ? [onPort(configured, recorded.success)] : []),
      configured
    ].filter((c, i, all) => c.api !== failed.api && all.findIndex((o) => o.api === c.api) === i)
    for (const candidate of candidates) {
      if (yield* isStation(backend, candidate)) return Result.succeed(candidate)
    }
    const said = Result.isSuccess(recorded) ? `${configFile(home)} names port ${recorded.success}` : recorded.failure
    const tried = candidates.length === 0 ? "" : ` and nothing answers at ${candidates.map((c) => c.origin).join(", ")}`
    return Result.fail(`${said}${tried}`)
  })
