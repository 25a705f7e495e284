/** The keys a schema accepts at a path: what a did-you-mean for an unknown key picks from. */
import * as SchemaAST from "effect/SchemaAST"

export const keysAt = (ast: SchemaAST.AST, path: ReadonlyArray<PropertyKey>): ReadonlyArray<string> => {
  const nodes = descend(ast, path)
  return [...new Set(nodes.flatMap(ownKeys))]
}

const unwrap = (ast: SchemaAST.AST): ReadonlyArray<SchemaAST.AST> => {
  switch (ast._tag) {
    case "Transformation":
      return unwrap(ast.from)
    case "Refinement":
      return unwrap(ast.from)
    case "Suspend":
      return unwrap(ast.f())
    case "Union":
      return ast.types.flatMap(unwrap)
    default:
      return [ast]
  }
}

const ownKeys = (ast: SchemaAST.AST): ReadonlyArray<string> =>
  unwrap(ast).flatMap((node) =>
    node._tag === "TypeLiteral" ? node.propertySignatures.map((p) => String(p.name)) : []
  )

const descend = (ast: SchemaAST.AST, path: ReadonlyArray<PropertyKey>): ReadonlyArray<SchemaAST.AST> => {
  let nodes = unwrap(ast)
  for (const segment of path) {
    nodes = nodes.flatMap((node): ReadonlyArray<SchemaAST.AST> => {
      if (node._tag === "TypeLiteral") {
        const property = node.propertySignatures.find((p) => p.name === segment)
        if (property) return unwrap(property.type)
        return node.indexSignatures.flatMap((s) => unwrap(s.type))
      }
      if (node._tag === "TupleType") return node.rest.flatMap((r) => unwrap(r.type))
      return []
    })
  }
  return nodes
}
