/**
 * What a gateway is configured with: its address, token, browser origins, body size and
 * connection limits, each with its default, and how routing.yaml's `server:` block reads into
 * them. Gateway.ts re-exports all of it (`Gateway.Settings`, `Gateway.settingsFromConfig`).
 */
import type { RoutingConfig } from "@local-router/core"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import { GatewayError } from "./GatewayError.ts"

export interface Settings {
  /** Address to bind; default 127.0.0.1. Anything but loopback needs `token`. */
  readonly host?: string | undefined
  /** Port; default 4141; 0 = any free port (see `Gateway.address`). */
  readonly port?: number | undefined
  readonly token?: Redacted.Redacted<string> | undefined
  /**
   * Browser origins allowed besides `Access.defaultOrigins` (this machine's pages, desktop apps),
   * exact or with `*` (`["*"]` for any). A request carrying any other `Origin` is refused (403).
   */
  readonly origins?: ReadonlyArray<string> | undefined
  /** Largest request body accepted (413 above it); default 32 MiB. */
  readonly maxBodyBytes?: number | undefined
  /** Connection limits; each omitted one keeps its default (`defaultLimits`). */
  readonly limits?: Partial<Limits> | undefined
}

/** What one client's connections may cost serve. */
export interface Limits {
  /** A request's line and headers must arrive within this, or it gets 408 and is closed (slow-loris). */
  readonly headersTimeoutMs: number
  /** The whole request, body included, must arrive within this (a slow upload); answers may take longer. */
  readonly requestTimeoutMs: number
  /** An idle keep-alive connection is closed after this. */
  readonly keepAliveTimeoutMs: number
  /** Largest request line plus headers; more is 431. */
  readonly maxHeaderBytes: number
  /** Open connections one client address may hold; past it a new one is answered 503 and closed. */
  readonly maxConnectionsPerClient: number
  /** Open connections in all; past it a new one is closed at once. */
  readonly maxConnections: number
}

export const defaultLimits: Limits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 120_000,
  keepAliveTimeoutMs: 5_000,
  maxHeaderBytes: 16 * 1024,
  maxConnectionsPerClient: 128,
  maxConnections: 512
}

/** Where a gateway listens and how large a body it takes, unless its Settings say otherwise. */
export const defaultHost = "127.0.0.1"
export const defaultPort = 4141
export const defaultMaxBodyBytes = 32 * 1024 * 1024

/**
 * The settings routing.yaml's `server:` block asks for. The token comes from the variable it
 * names (`token: env:NAME`), else from LOCAL_ROUTER_TOKEN.
 */
export const settingsFromConfig = (
  server: RoutingConfig.ServerConfig,
  env: Readonly<Record<string, string | undefined>> = process.env
): Result.Result<Settings, GatewayError> => {
  const fromFile = server.tokenEnv === undefined ? undefined : env[server.tokenEnv]
  if (server.tokenEnv !== undefined && !fromFile) {
    return Result.fail(new GatewayError({
      reason: "TokenMissing",
      message: `routing.yaml sets server.token: env:${server.tokenEnv}, but ${server.tokenEnv} is not set`
    }))
  }
  const token = fromFile || env.LOCAL_ROUTER_TOKEN
  return Result.succeed({
    host: server.host,
    port: server.port,
    token: token ? Redacted.make(token) : undefined,
    origins: server.origins,
    limits: server.limits,
    maxBodyBytes: server.maxBodyBytes
  })
}
