/**
 * Route matching: rows of method and path in, a match out. Which dialect a route answers in
 * (OpenAI, Ollama, Anthropic or native JSON), what body it reads, a 405 with its `Allow` header,
 * and a preflight's allowed methods all derive from the rows (the gateway's are in Routes.ts), so
 * adding a route is adding a row.
 *
 * A path is matched as it came on the wire, never normalised (`/v1/../health` is not
 * `/health`). The one parameter form, `/prefix/{name}`, takes the rest of the path and
 * percent-decodes it; bad percent-encoding is the caller's error, never a thrown URIError.
 */

/** The error and body shapes a route speaks. */
export type Dialect = "openai" | "ollama" | "anthropic" | "native"

/**
 * What a route reads: `json` takes only a JSON body (a form post or text/plain cannot pass as
 * JSON), `upload` takes a file (image/*, application/pdf, octet-stream, multipart or JSON),
 * `none` reads nothing.
 */
export type Body = "json" | "upload" | "none"

export interface Route<H> {
  /** GET routes answer HEAD too. */
  readonly method: "GET" | "POST"
  /** Exact, or `/prefix/{name}` for the rest of the path as a parameter. */
  readonly path: string
  readonly dialect: Dialect
  readonly body: Body
  /** Served without the token: the status page's own files, which hold no data (the page then asks for the token). */
  readonly open?: boolean
  readonly handle: H
}

export type Match<H> =
  | { readonly _tag: "Found"; readonly route: Route<H>; readonly param: string | undefined }
  | { readonly _tag: "WrongMethod"; readonly dialect: Dialect; readonly allow: string }
  | { readonly _tag: "NotFound"; readonly dialect: Dialect }
  | { readonly _tag: "BadPath"; readonly dialect: Dialect; readonly message: string }

/** Unknown paths answer like the API their prefix belongs to: Anthropic under /v1/messages, OpenAI under /v1/, else Ollama's router. */
export const dialectOf = (path: string): Dialect =>
  path.startsWith("/v1/messages/") ? "anthropic" : path.startsWith("/v1/") ? "openai" : "ollama"

const allowOf = <H>(routes: ReadonlyArray<Route<H>>): string =>
  [...new Set(routes.flatMap((r) => (r.method === "GET" ? ["GET", "HEAD"] : [r.method])))].concat("OPTIONS").join(", ")

export interface Table<H> {
  readonly match: (method: string, path: string) => Match<H>
  /** The methods a path answers (for a preflight or an OPTIONS), undefined when no route has it. */
  readonly allow: (path: string) => string | undefined
}

/** A table of rows; a path's rows are tried in their order. */
export const make = <H>(routes: ReadonlyArray<Route<H>>): Table<H> => {
  const exact = new Map<string, Array<Route<H>>>()
  const prefixed: Array<{ readonly prefix: string; readonly routes: Array<Route<H>> }> = []
  for (const route of routes) {
    const brace = route.path.indexOf("{")
    if (brace < 0) {
      exact.set(route.path, [...(exact.get(route.path) ?? []), route])
      continue
    }
    const prefix = route.path.slice(0, brace)
    const group = prefixed.find((p) => p.prefix === prefix)
    if (group) group.routes.push(route)
    else prefixed.push({ prefix, routes: [route] })
  }
  const lookup = (path: string): { readonly routes: ReadonlyArray<Route<H>>; readonly rest: string | undefined } | undefined => {
    const found = exact.get(path)
    if (found) return { routes: found, rest: undefined }
    const group = prefixed.find((p) => path.length > p.prefix.length && path.startsWith(p.prefix))
    return group && { routes: group.routes, rest: path.slice(group.prefix.length) }
  }
  return {
    match: (method, path) => {
      const candidates = lookup(path)
      if (!candidates) return { _tag: "NotFound", dialect: dialectOf(path) }
      const wanted = method === "HEAD" ? "GET" : method
      const route = candidates.routes.find((r) => r.method === wanted)
      if (!route) return { _tag: "WrongMethod", dialect: candidates.routes[0]!.dialect, allow: allowOf(candidates.routes) }
      if (candidates.rest === undefined) return { _tag: "Found", route, param: undefined }
      const param = decodeSegment(candidates.rest)
      return param === undefined
        ? { _tag: "BadPath", dialect: route.dialect, message: `the path ${JSON.stringify(path)} has bad percent-encoding (a % must start %XX of valid UTF-8)` }
        : { _tag: "Found", route, param }
    },
    allow: (path) => {
      const candidates = lookup(path)
      return candidates && allowOf(candidates.routes)
    }
  }
}

/** `decodeURIComponent`, with malformed input as undefined instead of a thrown URIError. */
export const decodeSegment = (raw: string): string | undefined => {
  try {
    return decodeURIComponent(raw)
  } catch {
    return undefined
  }
}

/** The media type of a Content-Type header, lower case without parameters; undefined when absent. */
export const mediaType = (header: string | undefined): string | undefined => {
  if (header === undefined) return undefined
  const semi = header.indexOf(";")
  return (semi < 0 ? header : header.slice(0, semi)).trim().toLowerCase()
}

const isJson = (type: string): boolean => type === "application/json" || (type.startsWith("application/") && type.endsWith("+json"))

/**
 * Why a body's Content-Type does not fit the route, or undefined when it does. No header at all
 * is accepted (SDKs and scripts that send JSON without saying so); browsers always send one.
 */
export const refusedType = (body: Body, header: string | undefined): string | undefined => {
  const type = mediaType(header)
  if (type === undefined || body === "none") return undefined
  if (body === "json") {
    return isJson(type)
      ? undefined
      : `this route takes JSON: send Content-Type: application/json (got ${JSON.stringify(type)}; with curl add -H 'content-type: application/json')`
  }
  const file = isJson(type) || type.startsWith("image/") || type === "application/pdf" || type === "application/octet-stream" ||
    type === "multipart/form-data"
  return file
    ? undefined
    : `this route takes a file: an image/* or application/pdf body, a multipart/form-data upload, or JSON (got ${JSON.stringify(type)})`
}
