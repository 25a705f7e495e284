/**
 * @local-router/backend-moondream: Moondream Station (and the Moondream cloud) for captions,
 * visual questions, detect and point. `definition` is what routing.yaml's `type: moondream`
 * loads; the namespaces are for tests and tools.
 */
export { definition } from "./MoondreamBackend.ts"
export * as Answer from "./Answer.ts"
export * as Endpoint from "./Endpoint.ts"
export * as MoondreamBackend from "./MoondreamBackend.ts"
export * as MoondreamOptions from "./MoondreamOptions.ts"
export * as Probe from "./Probe.ts"
export * as Spatial from "./Spatial.ts"
export * as StationError from "./StationError.ts"
