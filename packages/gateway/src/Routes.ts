/**
 * The gateway's routes: one row per method and path, in the order they are matched. A row
 * names the dialect its errors are in, the body it takes, whether it is served without the
 * token, and its handler, which lives with its dialect (openai/, ollama/, anthropic/, vision/)
 * or with the module it serves (status, health, metrics, the page, actions). Where two APIs
 * share a path, the row decides which answers. Matching is RouteTable's.
 */
import * as Effect from "effect/Effect"
import * as HttpServerResponse from "effect/http/HttpServerResponse"
import * as Actions from "./Actions.ts"
import * as CountTokens from "./anthropic/CountTokens.ts"
import * as Messages from "./anthropic/Messages.ts"
import * as AnthropicModels from "./anthropic/Models.ts"
import type * as Handler from "./Handler.ts"
import * as Health from "./Health.ts"
import * as Metrics from "./Metrics.ts"
import * as Embed from "./ollama/Embed.ts"
import * as Generation from "./ollama/Generation.ts"
import * as Tags from "./ollama/Tags.ts"
import * as ChatCompletions from "./openai/ChatCompletions.ts"
import * as Embeddings from "./openai/Embeddings.ts"
import * as Models from "./openai/Models.ts"
import * as RouteTable from "./RouteTable.ts"
import * as Status from "./Status.ts"
import * as StatusPage from "./StatusPage.ts"
import * as VisionRoutes from "./vision/VisionRoutes.ts"

export const table: RouteTable.Table<Handler.Handler> = RouteTable.make<Handler.Handler>([
  { method: "POST", path: "/v1/chat/completions", dialect: "openai", body: "json", handle: ChatCompletions.handle },
  { method: "POST", path: "/v1/messages", dialect: "anthropic", body: "json", handle: Messages.handle },
  { method: "POST", path: "/v1/messages/count_tokens", dialect: "anthropic", body: "json", handle: CountTokens.handle },
  // Anthropic's SDKs share this path and always send anthropic-version; they get Anthropic's shape.
  {
    method: "GET", path: "/v1/models", dialect: "openai", body: "none",
    handle: (ctx, request) => AnthropicModels.wanted(request.headers) ? AnthropicModels.handleList(ctx) : Models.handleList(ctx)
  },
  {
    method: "GET", path: "/v1/models/{id}", dialect: "openai", body: "none",
    handle: (ctx, request, _started, id = "") => AnthropicModels.wanted(request.headers) ? AnthropicModels.handleOne(ctx, id) : Models.handleOne(ctx, id)
  },
  { method: "POST", path: "/v1/embeddings", dialect: "openai", body: "json", handle: Embeddings.handle },
  { method: "POST", path: "/v1/vision/describe", dialect: "openai", body: "upload", handle: VisionRoutes.handle("image") },
  { method: "POST", path: "/v1/vision/pdf", dialect: "openai", body: "upload", handle: VisionRoutes.handle("pdf") },
  {
    method: "GET", path: "/", dialect: "ollama", body: "none",
    // A person's browser goes to the status page; Ollama's clients (no text/html) get Ollama's answer.
    handle: (_ctx, request) =>
      Effect.succeed(
        StatusPage.wantsHtml(request.headers.accept)
          ? HttpServerResponse.empty({ status: 302, headers: { location: "/ui" } })
          : HttpServerResponse.text("Ollama is running", { contentType: "text/plain; charset=utf-8" })
      )
  },
  { method: "GET", path: "/api/version", dialect: "ollama", body: "none", handle: Tags.handleVersion },
  { method: "GET", path: "/api/tags", dialect: "ollama", body: "none", handle: Tags.handleTags },
  { method: "GET", path: "/api/ps", dialect: "ollama", body: "none", handle: Tags.handlePs },
  { method: "POST", path: "/api/chat", dialect: "ollama", body: "json", handle: Generation.handle("chat") },
  { method: "POST", path: "/api/generate", dialect: "ollama", body: "json", handle: Generation.handle("generate") },
  { method: "POST", path: "/api/embed", dialect: "ollama", body: "json", handle: Embed.handle("embed") },
  { method: "POST", path: "/api/embeddings", dialect: "ollama", body: "json", handle: Embed.handle("embeddings") },
  { method: "POST", path: "/api/show", dialect: "ollama", body: "json", handle: Tags.handleShow },
  { method: "GET", path: "/health", dialect: "native", body: "none", handle: Health.handle },
  { method: "GET", path: "/status", dialect: "native", body: "none", handle: Status.handle },
  { method: "GET", path: "/status/events", dialect: "native", body: "none", handle: StatusPage.handleEvents },
  { method: "GET", path: "/ui", dialect: "native", body: "none", open: true, handle: StatusPage.handlePage },
  { method: "GET", path: "/ui/app.js", dialect: "native", body: "none", open: true, handle: StatusPage.handleScript },
  { method: "POST", path: "/actions/restart", dialect: "native", body: "json", handle: Actions.handle("restart") },
  { method: "POST", path: "/actions/pull", dialect: "native", body: "json", handle: Actions.handle("pull") },
  { method: "POST", path: "/actions/reload", dialect: "native", body: "json", handle: Actions.handle("reload") },
  { method: "GET", path: "/metrics", dialect: "native", body: "none", handle: Metrics.scrape }
])
