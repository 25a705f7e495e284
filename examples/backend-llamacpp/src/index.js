// @ts-check
/**
 * local-router-backend-llamacpp: llama.cpp's llama-server as a local-router backend.
 * routing.yaml loads `definition` with `type: local-router-backend-llamacpp`.
 */
export { definition, definition as default } from "./LlamaCppBackend.js"
export * as LlamaCppBackend from "./LlamaCppBackend.js"
export * as LlamaCppOptions from "./LlamaCppOptions.js"
export * as ServerState from "./ServerState.js"
