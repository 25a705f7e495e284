/**
 * The headers every routed response carries, so a caller (or a person with curl -i) can see
 * who answered without parsing the body:
 *
 *   x-local-router-backend   the backend that answered (routing.yaml name)
 *   x-local-router-model     the model it ran
 *   x-local-router-attempts  the answering backend's place in the candidate list: 1 means the
 *                            first choice answered; more means earlier ones were skipped or failed
 *   Server-Timing            gateway;dur=<ms> is the gateway's own time (parsing, encoding),
 *                            router;dur=<ms> the time spent routing and waiting for backends
 *
 * For a stream the headers go out at the commit (the first token), so `router` is the time to
 * the first token and `gateway` covers the request's parsing.
 */
export interface Who {
  readonly backend: string
  readonly model: string
  readonly attempts: number
}

const ms = (value: number) => value.toFixed(3)

export const headers = (who: Who, gatewayMs: number, routerMs: number): Record<string, string> => ({
  "x-local-router-backend": who.backend,
  "x-local-router-model": who.model,
  "x-local-router-attempts": String(who.attempts),
  "server-timing": `gateway;dur=${ms(gatewayMs)};desc="local-router", router;dur=${ms(routerMs)}`
})

/** Headers for a response the gateway answered itself, or an error before any backend answered. */
export const timing = (gatewayMs: number, routerMs?: number): Record<string, string> => ({
  "server-timing": routerMs === undefined
    ? `gateway;dur=${ms(gatewayMs)};desc="local-router"`
    : `gateway;dur=${ms(gatewayMs)};desc="local-router", router;dur=${ms(routerMs)}`
})
