/**
 * What `serve` loads, now or on first use: a child process imports this (without running serve)
 * to fill the source cache, so that serve itself never loads esbuild or Node's type stripper
 * (see SourceCache.js). Something missing here still works: its entry is made by a child of its
 * own when serve first loads it.
 */
import "./Main.ts"
import "./Serve.ts"
import "@local-router/gateway"
import "@local-router/vision"
import "@local-router/backend-mlx"
import "@local-router/backend-ollama"
import "@local-router/backend-moondream"
import "@local-router/backend-cloud"
import "@effect/platform/Multipart"
import "@effect/platform-node/NodeMultipart"
import "@effect/platform-node/NodeRuntime"
import "../ExitCode.ts"
