/**
 * What a person can do from the status page (or a script): restart a supervised server, pull a
 * missing model, reload routing.yaml. `POST /actions/{restart,pull,reload}` with a JSON body.
 *
 * Who may: the front door's rules first (an Origin outside the allowed ones is 403, the token
 * when one is set), then one more here: an action changes things, so it comes only from this
 * gateway's own page (Origin equal to the address the browser used, `http://<Host>`) or from
 * no page at all (no Origin: curl, the CLI). Another page, even one on this machine that may
 * read answers through CORS, cannot restart or pull anything.
 */
import type { LiveRouting } from "@local-router/core"
import * as Effect from "effect/Effect"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import { ApiError } from "./ApiError.ts"
import type * as Handler from "./Handler.ts"
import * as RequestBody from "./RequestBody.ts"

/** The app's side of the actions (the supervisor's servers); a failure's message is for a person. */
export interface Actions {
  /** Stop a supervised server gracefully and start it again. */
  readonly restart: (server: string) => Effect.Effect<string, ActionRefused>
  /** Start pulling a model onto a server; its progress shows in the status (`pull`). */
  readonly pull: (server: string, model: string) => Effect.Effect<string, ActionRefused>
}

export interface ActionRefused {
  readonly reason: "NotFound" | "Refused"
  readonly message: string
}

/** Why a request may not run an action, or undefined when it may. */
export const refusal = (headers: Readonly<Record<string, string | undefined>>): string | undefined => {
  const site = headers["sec-fetch-site"]
  if (site !== undefined && site !== "same-origin" && site !== "none") {
    return `actions are taken only from local-router's own page (this request came from a ${site} page)`
  }
  const origin = headers.origin
  if (origin === undefined) return undefined
  return origin === `http://${headers.host ?? ""}`
    ? undefined
    : `actions are taken only from local-router's own page, not from ${origin.slice(0, 200)}`
}

const done = (message: string) =>
  HttpServerResponse.text(JSON.stringify({ ok: true, message }), { contentType: "application/json; charset=utf-8" })

const text = (body: Record<string, unknown>, key: string): Effect.Effect<string, ApiError> => {
  const value = body[key]
  return typeof value === "string" && value.length > 0 && value.length <= 300
    ? Effect.succeed(value)
    : Effect.fail(new ApiError({ reason: "InvalidRequest", message: `give "${key}" as a non-empty string` }))
}

const refused = (error: ActionRefused) =>
  new ApiError({ reason: error.reason === "NotFound" ? "NotFound" : "InvalidRequest", message: error.message })

export type Kind = "restart" | "pull" | "reload"

/** Run one action for a decoded JSON body. */
export const run = (
  kind: Kind,
  body: Record<string, unknown>,
  actions: Actions | undefined,
  reload: Effect.Effect<LiveRouting.ReloadResult> | undefined
): Effect.Effect<HttpServerResponse.HttpServerResponse, ApiError> => {
  if (kind === "reload") {
    if (!reload) return Effect.fail(new ApiError({ reason: "NotFound", message: "this local-router cannot reload its config" }))
    return Effect.flatMap(reload, (result) => {
      switch (result._tag) {
        case "Applied":
          return Effect.succeed(done(`routing.yaml version ${result.version} applied${result.changed.length ? ` (changed: ${result.changed.join(", ")})` : ""}`))
        case "Unchanged":
          return Effect.succeed(done("routing.yaml is unchanged"))
        case "Rejected":
          return Effect.fail(new ApiError({ reason: "InvalidRequest", message: `routing.yaml was not applied: ${result.error.message}` }))
      }
    })
  }
  if (!actions) return Effect.fail(new ApiError({ reason: "NotFound", message: "this local-router supervises no servers" }))
  return Effect.gen(function*() {
    const server = yield* text(body, "server")
    const message = kind === "restart"
      ? yield* Effect.mapError(actions.restart(server), refused)
      : yield* Effect.mapError(actions.pull(server, yield* text(body, "model")), refused)
    return done(message)
  })
}

/** The route for `kind`: refused unless it comes from this gateway's page or from no page; the body at most 64 KiB. */
export const handle = (kind: Kind): Handler.Handler => (ctx, request) => {
  const refused = refusal(request.headers)
  if (refused) {
    return Effect.andThen(
      Effect.logWarning(`gateway: refused the ${kind} action: ${refused}`),
      Effect.fail(new ApiError({ reason: "Forbidden", message: refused }))
    )
  }
  return Effect.flatMap(RequestBody.json(request.source, 64 * 1024), (body) => run(kind, body, ctx.actions, ctx.routing.reload))
}
