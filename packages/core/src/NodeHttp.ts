/**
 * node:http, loaded without Node's bundled undici. An ESM `import` of node:http builds the
 * module's namespace, which reads every export, and Node 22's http exports `WebSocket`,
 * `CloseEvent` and `MessageEvent` as lazy getters over undici: the import alone loads undici
 * and its WebAssembly parser, about 10 MB of a long-running process that never uses them.
 * `process.getBuiltinModule` hands over the module object, whose exports are read only when
 * used. Types still come from `import type`.
 */
const http = process.getBuiltinModule("node:http")

export const { Agent, createServer, get, request } = http
