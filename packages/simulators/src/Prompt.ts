/**
 * The text an answer is derived from, read from any of the chat shapes we simulate (Ollama
 * messages, OpenAI string-or-parts content, Anthropic blocks): the last user message's text.
 */
const textOf = (content: unknown): string => {
  if (typeof content === "string") return content
  if (!Array.isArray(content)) return ""
  return content
    .map((p) => (typeof p === "object" && p !== null && typeof (p as { text?: unknown }).text === "string" ? (p as { text: string }).text : ""))
    .filter(Boolean)
    .join("\n")
}

export const lastUserText = (messages: unknown): string => {
  if (!Array.isArray(messages)) return ""
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i] as { role?: unknown; content?: unknown } | null
    if (m !== null && typeof m === "object" && m.role === "user") return textOf(m.content)
  }
  return ""
}

/** Non-text parts of OpenAI-style content, e.g. `image_url`, which text-only servers reject. */
export const partTypes = (messages: unknown): ReadonlyArray<string> => {
  if (!Array.isArray(messages)) return []
  const types: Array<string> = []
  for (const m of messages) {
    const content = (m as { content?: unknown } | null)?.content
    if (Array.isArray(content)) for (const p of content) types.push(String((p as { type?: unknown } | null)?.type))
  }
  return types
}
