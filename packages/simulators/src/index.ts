/**
 * @local-router/simulators: protocol-faithful fake model servers, started as real processes.
 *
 *   import { Simulator, type Fault } from "@local-router/simulators"
 *   const ollama = await Simulator.start("ollama", { args: ["--load-ms", "50"] })
 *   await ollama.setFaults([{ kind: "cutAfterTokens", tokens: 2 }])
 *   ...
 *   await ollama.stop()
 */
export * as Agent from "./Agent.ts"
export * as Answer from "./Answer.ts"
export * as Faults from "./Faults.ts"
export * as JsonInstance from "./JsonInstance.ts"
export * as Simulator from "./Simulator.ts"
export * as Vectors from "./Vectors.ts"
export type { Fault, Scope } from "./Faults.ts"
export type { RecordedImage, RecordedRequest } from "./RequestLog.ts"
export type { Exit, Kind, Running, Spec, StartOptions } from "./Simulator.ts"
