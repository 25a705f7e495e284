/**
 * @local-router/backend-mlx: mlx_lm.server and other OpenAI-compatible local servers.
 * `definition` is what routing.yaml's `type: mlx` loads; the namespaces are for tests and tools.
 */
export { definition } from "./MlxBackend.ts"
export * as MlxBackend from "./MlxBackend.ts"
export * as MlxOptions from "./MlxOptions.ts"
export * as Probe from "./Probe.ts"
