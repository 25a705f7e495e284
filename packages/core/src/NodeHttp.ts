/**
 * node:http, loaded without Node's bundled undici. An ESM `import` of node:http builds the
 * module's namespace, which reads every export, and Node 22's http exports `WebSocket`,
 * `CloseEvent` and `MessageEvent` as lazy getters over undici: the import alone loads undici
 * and its WebAssembly parser, about 10 MB of a long-running process that never uses them.
 * `require` reads only the exports that are used. Types still come from `import type`.
 */
import { createRequire } from "node:module"

const http = createRequire(import.meta.url)("node:http") as typeof import("node:http")

export const { Agent, createServer, get, request } = http
