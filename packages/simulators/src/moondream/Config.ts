/**
 * Station's `~/.moondream-station/config.json` and its port drift: start from the configured
 * port, take the first free one of the next 20, and write the port taken back to the file,
 * so the drift is sticky and a client can find the server by reading `service_port`.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import type { Server } from "node:http"
import { join } from "node:path"
import { listenOnce } from "../Harness.ts"

export const file = (home: string): string => join(home, ".moondream-station", "config.json")

export const defaults = {
  current_model: "moondream-3-mlx-int4",
  service_port: 2020,
  service_host: "127.0.0.1",
  auto_start: true,
  inference_workers: 1,
  inference_max_queue_size: 10,
  inference_timeout: 30.0,
  logging: false,
  models_dir: ""
}

export type Config = typeof defaults & Record<string, unknown>

export const read = (home: string): Config => {
  try {
    return { ...defaults, models_dir: join(home, ".moondream-station", "models"), ...(JSON.parse(readFileSync(file(home), "utf8")) as object) }
  } catch {
    return { ...defaults, models_dir: join(home, ".moondream-station", "models") }
  }
}

export const write = (home: string, config: Config): void => {
  mkdirSync(join(home, ".moondream-station"), { recursive: true })
  writeFileSync(file(home), `${JSON.stringify(config, null, 2)}\n`)
}

/** Binds `first`, or with `drift` the first of first..first+19 that is free. */
export const bindDrifting = async (server: Server, host: string, first: number, drift: boolean): Promise<number> => {
  const last = drift ? first + 19 : first
  for (let port = first; ; port++) {
    try {
      return await listenOnce(server, host, port)
    } catch (e) {
      const busy = (e as NodeJS.ErrnoException).code === "EADDRINUSE"
      if (!busy || port >= last) throw new Error(`could not start the service on ports ${first}-${last}: ${(e as Error).message}`)
    }
  }
}
