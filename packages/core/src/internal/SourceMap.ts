/** Maps a path inside a parsed YAML document back to the line and column it came from. */
import { isMap, isScalar, isSeq, type Document, LineCounter, type Node, parseDocument } from "yaml"

export interface Position {
  readonly line: number
  readonly column: number
}

export interface SourceMap {
  readonly document: Document.Parsed
  /** Position of a character offset. */
  readonly at: (offset: number) => Position
  /** Position of the value at `path`, or of the key itself when `key` is set; the nearest existing ancestor when the path is absent. */
  readonly locate: (path: ReadonlyArray<PropertyKey>, options?: { readonly key?: boolean }) => Position
}

export const parse = (text: string): SourceMap => {
  const lineCounter = new LineCounter()
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true })
  const at = (offset: number): Position => {
    const { line, col } = lineCounter.linePos(offset)
    return { line, column: col }
  }
  const locate = (path: ReadonlyArray<PropertyKey>, options?: { readonly key?: boolean }): Position => {
    let node: unknown = document.contents
    let position: Position = at(document.contents?.range?.[0] ?? 0)
    for (let i = 0; i < path.length; i++) {
      const segment = path[i]
      const last = i === path.length - 1
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(segment))
        if (!pair) return position
        const keyNode = pair.key as Node
        if (last && options?.key && keyNode.range) return at(keyNode.range[0])
        node = pair.value
        const range = (pair.value as Node | null)?.range ?? keyNode.range
        if (range) position = at(range[0])
      } else if (isSeq(node) && typeof segment === "number") {
        const item = node.items[segment] as Node | undefined
        if (!item) return position
        node = item
        if (item.range) position = at(item.range[0])
      } else {
        return position
      }
    }
    return position
  }
  return { document, at, locate }
}
