export * as ScriptedBackend from "./ScriptedBackend.ts"
export { checkToolCalls, cityFormat, contractSuite, type ContractTarget, weatherTool } from "./contract.ts"
export * as Generated from "./Generated.ts"
