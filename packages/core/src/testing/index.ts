export * as ScriptedBackend from "./ScriptedBackend.ts"
export { contractSuite, type ContractTarget } from "./contract.ts"
export * as Generated from "./Generated.ts"
