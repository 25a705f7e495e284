/**
 * node:http, loaded without Node's bundled undici. An ESM `import` of node:http builds the
 * module's namespace, which reads every export, and Node 22's http exports `WebSocket`,
 * `CloseEvent` and `MessageEvent` as lazy getters over undici: the import alone loads undici
 * and its WebAssembly parser, about 10 MB of a long-running process that never uses them.
 * `process.getBuiltinModule` hands over the module object, whose exports are read only when
 * used. Types still come from `import type`.
 *
 * node:https is loaded on first use only (`https()`): it brings TLS and node:crypto, which a
 * `serve` that talks only to local servers never needs.
 */
import type * as NodeHttps from "node:https"

const http = process.getBuiltinModule("node:http")

export const { Agent, createServer, get, request } = http

let loaded: typeof NodeHttps | undefined

/** node:https, loaded the first time a call needs it. */
export const https = (): typeof NodeHttps => (loaded ??= process.getBuiltinModule("node:https"))
