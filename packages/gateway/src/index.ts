/**
 * @local-router/gateway: OpenAI- and Ollama-compatible HTTP endpoints over the Router.
 * Apps use `Gateway`; the other modules are exported for tools and tests.
 */
export * as Access from "./Access.ts"
export * as Actions from "./Actions.ts"
export * as ApiError from "./ApiError.ts"
export * as Catalog from "./Catalog.ts"
export * as Gateway from "./Gateway.ts"
export * as GatewayError from "./GatewayError.ts"
export * as Health from "./Health.ts"
export * as Metrics from "./Metrics.ts"
export * as RequestLog from "./RequestLog.ts"
export * as Status from "./Status.ts"
export * as VisionRoutes from "./vision/VisionRoutes.ts"
