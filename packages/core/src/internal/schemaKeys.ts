/** The keys a schema accepts at a path: what a did-you-mean for an unknown key picks from. */
import * as SchemaAST from "effect/SchemaAST"

export const keysAt = (ast: SchemaAST.AST, path: ReadonlyArray<PropertyKey>): ReadonlyArray<string> => {
  const nodes = descend(ast, path)
  return [...new Set(nodes.flatMap(ownKeys))]
}

const unwrap = (ast: SchemaAST.AST): ReadonlyArray<SchemaAST.AST> => {
  switch (ast._tag) {
    case "Suspend":
      return unwrap(ast.thunk())
    case "Union":
      return ast.types.flatMap(unwrap)
    default:
      return [ast]
  }
}

const ownKeys = (ast: SchemaAST.AST): ReadonlyArray<string> =>
  unwrap(ast).flatMap((node) =>
    node._tag === "Objects" ? node.propertySignatures.map((p) => String(p.name)) : []
  )

const descend = (ast: SchemaAST.AST, path: ReadonlyArray<PropertyKey>): ReadonlyArray<SchemaAST.AST> => {
  let nodes = unwrap(ast)
  for (const segment of path) {
    nodes = nodes.flatMap((node): ReadonlyArray<SchemaAST.AST> => {
      if (node._tag === "Objects") {
        const property = node.propertySignatures.find((p) => p.name === segment)
        if (property) return unwrap(property.type)
        return node.indexSignatures.flatMap((s) => unwrap(s.type))
      }
      if (node._tag === "Arrays") return [...node.elements, ...node.rest].flatMap(unwrap)
      return []
    })
  }
  return nodes
}
