/**
 * @local-router/backend-ollama: Ollama through the official `ollama` client. `definition` is
 * what routing.yaml's `type: ollama` loads; the namespaces are for tests and tools.
 */
export { definition } from "./OllamaBackend.ts"
export * as Chat from "./Chat.ts"
export * as ModelName from "./ModelName.ts"
export * as OllamaBackend from "./OllamaBackend.ts"
export * as OllamaOptions from "./OllamaOptions.ts"
export * as Probe from "./Probe.ts"
export * as Pull from "./Pull.ts"
export * as Embed from "./Embed.ts"
export * as Show from "./Show.ts"
