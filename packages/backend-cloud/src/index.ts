/**
 * @local-router/backend-cloud: OpenAI, Anthropic and OpenRouter. `definition` is what
 * routing.yaml's `type: cloud` loads; the namespaces are for tests and tools.
 */
export { definition } from "./CloudBackend.ts"
export * as Anthropic from "./Anthropic.ts"
export * as CloudBackend from "./CloudBackend.ts"
export * as CloudOptions from "./CloudOptions.ts"
export * as ModelCapabilities from "./ModelCapabilities.ts"
