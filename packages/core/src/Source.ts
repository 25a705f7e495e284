/**
 * Event sources read by plain calls, for backends that read a local server themselves (core's
 * OpenAiChat, the Ollama backend's chat): what has arrived is taken synchronously and a reader
 * with nothing to take waits with one callback. The Router reads such a source without an
 * Effect step per chunk; `toStream` makes it an ordinary Stream for every other reader.
 *
 * See internal/Source.ts for the contract.
 */
export { end, failed, isEvents, type End, type Failed, type Polled, type Source } from "./internal/Source.ts"
export { fromSource as toStream } from "./internal/Pullable.ts"
