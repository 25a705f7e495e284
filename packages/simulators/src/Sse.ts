/**
 * Server-sent-event framing: `data:` events, named events (Anthropic), and comment lines
 * (mlx_lm's `: keepalive`, OpenRouter's `: OPENROUTER PROCESSING`) that naive clients choke on.
 */
export const headers = { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" } as const

export const data = (payload: unknown): string => `data: ${typeof payload === "string" ? payload : JSON.stringify(payload)}\n\n`

export const event = (name: string, payload: unknown): string => `event: ${name}\ndata: ${JSON.stringify(payload)}\n\n`

export const comment = (text: string): string => `: ${text}\n\n`

export const done = "data: [DONE]\n\n"
