/**
 * Ollama model names as the server compares them: case-insensitive, `:latest` implied when
 * there is no tag, so `Moondream` in routing.yaml is `moondream:latest` in /api/tags.
 */
export const normalise = (name: string): string => {
  const lower = name.trim().toLowerCase()
  const last = lower.slice(lower.lastIndexOf("/") + 1)
  return last.includes(":") ? lower : `${lower}:latest`
}

export const same = (a: string, b: string): boolean => normalise(a) === normalise(b)

export const isListed = (model: string, listed: ReadonlyArray<string>): boolean => listed.some((name) => same(name, model))
