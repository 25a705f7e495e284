/**
 * `local-router plugin new`: the files of a new backend package. What it writes works out of
 * the box — `npm install && npm test` runs core's contract suite against a small simulated
 * OpenAI-compatible server in the package's own test folder — and is shaped to be published:
 *
 * - plain ESM JavaScript with JSDoc types, because Node will not strip types from `.ts` files
 *   under node_modules (a TypeScript plugin must publish compiled JavaScript);
 * - `@local-router/core` and `effect` as peer dependencies, so the plugin uses the host's core
 *   (one Effect runtime, one BackendError) instead of a copy of its own;
 * - `exports` as a plain path, which both `import` and local-router's resolver (`require.resolve`
 *   from routing.yaml's directory) understand;
 * - the contract version it was written against, fixed in the source: local-router refuses a
 *   definition whose major differs from its own;
 * - this local-router's own core, packed into `vendor/` and named by a `file:` devDependency, so
 *   `npm install && npm test` run the contract suite against the core the plugin will run on,
 *   on any machine, with nothing published. A `file:` path to the installed local-router would
 *   do that too, but only on this machine and only until local-router moves (another Node
 *   version, another prefix); the tarball goes wherever the package goes (a clone, its CI).
 */
import { Backend } from "@local-router/core"
import * as Schema from "effect/Schema"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"

export class ScaffoldError extends Schema.TaggedError<ScaffoldError>()("ScaffoldError", {
  message: Schema.String
}) {}

export interface Names {
  /** The npm package name, which is also the `type:` in routing.yaml. */
  readonly pkg: string
  /** The short name the definition carries (`name`), e.g. `lmstudio`. */
  readonly short: string
}

const NPM_NAME = /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/

/** `lmstudio` -> `local-router-backend-lmstudio`; a full or scoped name is kept as written. */
export const namesOf = (name: string): Names | ScaffoldError => {
  const pkg = name.startsWith("@") || name.startsWith("local-router-backend-") ? name : `local-router-backend-${name}`
  if (!NPM_NAME.test(pkg) || pkg.length > 214) {
    return new ScaffoldError({ message: `"${name}" is not a valid npm package name (lower case letters, digits, '-', '.', '_', optionally @scope/)` })
  }
  const base = pkg.slice(pkg.lastIndexOf("/") + 1)
  return { pkg, short: base.replace(/^local-router-backend-/, "") || base }
}

/** The versions the scaffold pins: those of the core this local-router runs. */
const versions = () => {
  const require = createRequire(import.meta.url)
  const core = JSON.parse(fs.readFileSync(path.join(path.dirname(require.resolve("@local-router/core")), "..", "package.json"), "utf8")) as {
    version: string
    dependencies?: Record<string, string>
    peerDependencies?: Record<string, string>
  }
  const [major, minor] = core.version.split(".")
  return {
    core: core.version,
    coreRange: major === "0" ? `^0.${minor}.0` : `^${major}.0.0`,
    effect: core.dependencies?.["effect"] ?? "4.1.5",
    vitest: core.peerDependencies?.["vitest"] ?? "^5.1.2",
    effectVitest: core.peerDependencies?.["@effect/vitest"] ?? "4.1.5"
  }
}

/** Where the plugin keeps the packed core its tests run against. */
const vendored = (version: string) => `vendor/local-router-core-${version}.tgz`

/**
 * Put this local-router's core, packed, at `target`: the tarball an installed local-router ships
 * for this (plugin-kit/, written by `./run pack` with core's dependencies stated), or, run from
 * a clone, core's workspace package packed by npm.
 */
const packCore = (target: string) => {
  const kit = path.resolve(import.meta.dirname, "../../plugin-kit", path.basename(target))
  fs.mkdirSync(path.dirname(target), { recursive: true })
  if (fs.existsSync(kit)) return fs.copyFileSync(kit, target)
  const require = createRequire(import.meta.url)
  const coreDir = path.resolve(path.dirname(require.resolve("@local-router/core")), "..")
  execFileSync("npm", ["pack", "--silent", "--ignore-scripts", "--pack-destination", path.dirname(target)], { cwd: coreDir, stdio: ["ignore", "ignore", "pipe"] })
}

/** Every file of the package, by path relative to its directory. */
export const files = (names: Names): ReadonlyMap<string, string> => {
  const v = versions()
  const manifest = {
    name: names.pkg,
    version: "0.1.0",
    description: `A local-router backend: ${names.short}`,
    type: "module",
    license: "MIT",
    keywords: ["local-router", "local-router-backend"],
    exports: { ".": "./src/index.js" },
    files: ["src", "README.md"],
    scripts: { test: "vitest run" },
    peerDependencies: { "@local-router/core": v.coreRange, effect: `^${v.effect}` },
    devDependencies: { "@effect/vitest": v.effectVitest, "@local-router/core": `file:${vendored(v.core)}`, effect: v.effect, vitest: v.vitest }
  }
  return new Map([
    ["package.json", `${JSON.stringify(manifest, null, 2)}\n`],
    [".gitignore", "node_modules/\n"],
    ["src/index.js", definitionSource(names)],
    ["test/server.js", serverSource],
    ["test/backend.test.js", testSource(names)],
    ["vitest.config.js", `import { defineConfig } from "vitest/config"\n\nexport default defineConfig({ test: { include: ["test/**/*.test.js"] } })\n`],
    ["README.md", readme(names)]
  ])
}

/** Write the package into `dir`, which must not exist or be empty, with core packed into vendor/. */
export const write = (dir: string, names: Names): ReadonlyArray<string> | ScaffoldError => {
  if (fs.existsSync(dir) && (!fs.statSync(dir).isDirectory() || fs.readdirSync(dir).length > 0)) {
    return new ScaffoldError({ message: `${dir} already exists and is not empty; choose another --dir` })
  }
  const written: Array<string> = []
  for (const [file, text] of files(names)) {
    const target = path.join(dir, file)
    fs.mkdirSync(path.dirname(target), { recursive: true })
    fs.writeFileSync(target, text)
    written.push(target)
  }
  const core = path.join(dir, vendored(versions().core))
  try {
    packCore(core)
  } catch (error) {
    return new ScaffoldError({ message: `could not pack @local-router/core into ${core}: ${String((error as { stderr?: unknown }).stderr ?? error).trim()}` })
  }
  written.push(core)
  return written
}

const definitionSource = (names: Names) => `// @ts-check
/**
 * ${names.pkg}: a local-router backend for an OpenAI-compatible server.
 *
 * routing.yaml names it by package:  backends: { ${names.short}: { type: ${names.pkg}, url: "http://127.0.0.1:8000" } }
 *
 * Start here and add what is particular to your server: its health route, how it says it is
 * loading (Busy, not dead), how it lists models, its error bodies. Keep the invariants in
 * local-router's docs/plugins.md; \`npm test\` runs core's contract suite to check them.
 */
import { Backend, BackendError, OpenAiChat } from "@local-router/core"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import pkg from "../package.json" with { type: "json" }

/** The entry's own options in routing.yaml (local-router rejects unknown keys with file:line:col). */
export const Options = Schema.Struct({
  maxTokens: Schema.optional(Schema.Int.check(Schema.isGreaterThan(0))).annotate({
    description: "Token limit sent when a request gives none. Default 2048"
  })
})

export const definition = Backend.plugin({
  name: ${JSON.stringify(names.short)},
  // The contract this package was written against. Do not read it from core at run time:
  // local-router compares it with its own to refuse an incompatible plugin.
  contract: ${JSON.stringify(Backend.CONTRACT_VERSION)},
  version: pkg.version,
  options: Options,
  timeouts: { connect: 10_000, firstToken: 60_000 },
  make: (context) =>
    Effect.sync(() => {
      const backend = context.name
      const origin = (context.url ?? "http://127.0.0.1:8000").replace(/\\/+$/, "").replace(/\\/v1$/, "")
      /** @type {OpenAiChat.Client} */
      const client = {
        backend,
        baseUrl: \`\${origin}/v1\`,
        // How tool choice and reasoning are spelt: "local" is what llama-server, vLLM, LM Studio
        // and mlx_lm read (tool_choice as a string, chat_template_kwargs.enable_thinking).
        flavour: "local",
        defaultMaxTokens: context.options.maxTokens ?? 2048,
        // Secrets stay Redacted: core unwraps them on the wire only and scrubs them from errors.
        ...(context.apiKey === undefined ? {} : { headers: { authorization: Redacted.make(\`Bearer \${Redacted.value(context.apiKey)}\`) } })
      }
      const models = OpenAiChat.models(client)
      return {
        name: backend,
        type: ${JSON.stringify(names.short)},
        // Contract 2.0: say what your server really does; a request that needs a capability skips
        // backends without it (routing.yaml can override these per backend and per model).
        // - tools: it streams OpenAI tool_calls deltas (test/server.js shows the shape)
        // - jsonSchema: it honours response_format json_schema (mlx_lm does not; llama-server does)
        // - reasoning: it streams \`reasoning\` or \`reasoning_content\` and can switch it off
        // - embeddings: it answers /v1/embeddings; then also add
        //     embed: (request) => OpenAiChat.embed(client, request)
        capabilities: { text: true, images: false, streaming: true, pull: false, tools: true, jsonSchema: false, reasoning: false, embeddings: false },
        // Token-free and layered: nothing listening -> Unreachable; an answer that is not a
        // model list -> Starting; a 503 -> Busy (loading); the list -> Ready.
        probe: Effect.match(models, {
          onFailure: (error) =>
            error.reason === "Unreachable"
              ? Backend.Probe.Unreachable({ detail: error.message })
              : error.status === 503
              ? Backend.Probe.Busy({ detail: error.message })
              : Backend.Probe.Starting({ detail: error.message }),
          onSuccess: (listed) => Backend.Probe.Ready({ models: listed, loaded: [] })
        }),
        models,
        /** @param {string} model */
        ensureModel: (model) =>
          Stream.fromEffect(Effect.flatMap(models, (listed) =>
            listed.includes(model)
              ? Effect.succeed({ status: \`\${model} is present\` })
              : Effect.fail(new BackendError.BackendError({ reason: "ModelMissing", backend, model, message: \`\${backend}: the server does not list \${model}; this backend does not pull\` })))),
        // Start on headers, text, reasoning and tool-call deltas, usage, exactly one Done; errors
        // mapped to reasons. OpenAiChat reads every OpenAI-compatible variant of these.
        generate: (request) => OpenAiChat.generate(client, request)
      }
    })
})

export default definition
`

const serverSource = `// @ts-check
/**
 * A small simulated OpenAI-compatible server for the tests: one model, a streamed answer,
 * 404 for a model it does not have, and tool calls as OpenAI streams them (a header delta with
 * the id and name, then argument fragments, finish_reason "tool_calls") when the request offers
 * tools and asks for one. Make it behave like your real server (its loading answer, its error
 * bodies, its tool-call shape) and test your backend against it: never mock fetch.
 */
import { createServer } from "node:http"

export const MODEL = "demo-model"
export const WORDS = ["Hello", " from", " the", " simulated", " server"]

/** @param {import("node:http").ServerResponse} res @param {number} status @param {unknown} body */
const json = (res, status, body) => {
  const text = JSON.stringify(body)
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) })
  res.end(text)
}

/**
 * The tool to call: none after a tool result; the named one, or the first when tool_choice is
 * "required"; else one whose name the last user message mentions.
 * @param {any} request
 */
const toolToCall = (request) => {
  const tools = Array.isArray(request.tools) ? request.tools : []
  const last = request.messages?.at(-1)
  if (tools.length === 0 || last?.role === "tool" || request.tool_choice === "none") return undefined
  if (request.tool_choice === "required") return tools[0]
  return tools.find((/** @type {any} */ t) => typeof last?.content === "string" && last.content.includes(t.function.name))
}

/**
 * Arguments for the tool: each required string property gets the last capitalised word of the
 * prompt (\`Paris\` in "weather in Paris?").
 * @param {any} tool @param {any} request
 */
const argumentsFor = (tool, request) => {
  const prompt = String(request.messages?.at(-1)?.content ?? "")
  const word = prompt.match(/[A-Z][a-z]+/g)?.at(-1) ?? ""
  const required = Array.isArray(tool.function.parameters?.required) ? tool.function.parameters.required : []
  return Object.fromEntries(required.map((/** @type {string} */ key) => [key, word]))
}

/** @returns {Promise<{ url: string, close: () => Promise<void> }>} */
export const start = () =>
  new Promise((resolve) => {
    const server = createServer((req, res) => {
      let body = ""
      req.on("data", (chunk) => (body += chunk))
      req.on("end", () => {
        if (req.method === "GET" && req.url === "/v1/models") return json(res, 200, { object: "list", data: [{ id: MODEL, object: "model" }] })
        if (req.method !== "POST" || req.url !== "/v1/chat/completions") return json(res, 404, { error: { message: "not found" } })
        const request = JSON.parse(body || "{}")
        if (request.model !== MODEL) return json(res, 404, { error: { message: \`model "\${request.model}" not found\`, type: "not_found_error" } })
        res.writeHead(200, { "content-type": "text/event-stream" })
        const chunk = (/** @type {Record<string, unknown>} */ delta, /** @type {string | null} */ finish) =>
          \`data: \${JSON.stringify({ object: "chat.completion.chunk", model: MODEL, choices: [{ index: 0, delta, finish_reason: finish }] })}\\n\\n\`
        const tool = toolToCall(request)
        if (tool !== undefined) {
          // The arguments' JSON text arrives in fragments after a header with the id and name.
          const args = JSON.stringify(argumentsFor(tool, request))
          res.write(chunk({ role: "assistant", content: null, tool_calls: [{ index: 0, id: "call_demo0001", type: "function", function: { name: tool.function.name, arguments: "" } }] }, null))
          for (let i = 0; i < args.length; i += 4) res.write(chunk({ tool_calls: [{ index: 0, function: { arguments: args.slice(i, i + 4) } }] }, null))
          res.write(chunk({}, "tool_calls"))
          return res.end("data: [DONE]\\n\\n")
        }
        const result = request.messages?.at(-1)?.role === "tool" ? [\`The tool said: \${request.messages.at(-1).content}\`] : WORDS
        for (const word of result) res.write(chunk({ content: word }, null))
        res.write(chunk({}, "stop"))
        res.end("data: [DONE]\\n\\n")
      })
    })
    server.listen(0, "127.0.0.1", () => {
      const address = /** @type {import("node:net").AddressInfo} */ (server.address())
      resolve({
        url: \`http://127.0.0.1:\${address.port}\`,
        close: () => new Promise((done) => server.close(() => done(undefined)))
      })
    })
  })

/** A port nothing listens on (for the "unreachable" check). @returns {Promise<number>} */
export const freePort = () =>
  new Promise((resolve) => {
    const probe = createServer()
    probe.listen(0, "127.0.0.1", () => {
      const port = /** @type {import("node:net").AddressInfo} */ (probe.address()).port
      probe.close(() => resolve(port))
    })
  })
`

const testSource = (names: Names) => `/**
 * core's contract suite against the simulated server, plus your backend's own behaviour.
 */
import { afterAll, beforeAll } from "@effect/vitest"
import { contractSuite } from "@local-router/core/testing"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { definition, Options } from "../src/index.js"
import * as Server from "./server.js"

/** @type {{ url: string, close: () => Promise<void> }} */
let server
beforeAll(async () => {
  server = await Server.start()
})
afterAll(() => server.close())

/** @param {string} url */
const make = (url) =>
  definition.make({
    name: ${JSON.stringify(names.short)},
    url,
    apiKey: undefined,
    apiKeyEnv: undefined,
    options: Schema.decodeUnknownSync(Options)({}),
    configDir: process.cwd()
  })

contractSuite(${JSON.stringify(names.pkg)}, {
  make: Effect.suspend(() => make(server.url)),
  model: Server.MODEL,
  missingModel: "no-such-model",
  // The capabilities the backend declares are checked against the server: here, tool calls.
  tools: { model: Server.MODEL },
  makeUnreachable: Effect.promise(Server.freePort).pipe(Effect.flatMap((port) => make(\`http://127.0.0.1:\${port}\`)))
})
`

const readme = (names: Names) => `# ${names.pkg}

A local-router backend. Install it into local-router and name it by package in routing.yaml:

\`\`\`sh
local-router plugin add .                 # this directory; or a packed .tgz, or its npm name once published
local-router plugins                      # shows it loaded, with its version and contract
\`\`\`

\`\`\`yaml
backends:
  ${names.short}:
    type: ${names.pkg}
    url: "http://127.0.0.1:8000"
    # maxTokens: 2048
    # apiKey: env:MY_SERVER_KEY      # secrets only as env:NAME
priorities:
  text: [${names.short}]
categories:
  fast:
    input: text
    models: { ${names.short}: demo-model }
\`\`\`

\`local-router plugin remove ${names.pkg}\` takes it out again.

## Develop

\`\`\`sh
npm install
npm test        # core's contract suite against test/server.js, a small simulated server
\`\`\`

\`src/index.js\` is the definition. Replace the generic OpenAI-compatible parts with what your
server does differently, and make \`test/server.js\` behave like the real server (its loading
answer, its error bodies, how it streams tool calls) so the tests prove it. After a change,
\`local-router plugin add .\` again installs the new version.

\`capabilities\` says what the server can do (local-router contract 2.0): \`tools\` is declared
and tested; turn on \`jsonSchema\`, \`reasoning\` or \`embeddings\` only when your server has
them, and name a model for each in the contract suite (\`jsonSchema\`, \`reasoning\`, \`embed\`)
so the tests check it.

\`vendor/local-router-core-*.tgz\` is the core of the local-router that wrote this package (it is
not on the npm registry); the tests run against it. Keep it in version control so a clone, or
CI, installs the same way. \`local-router plugin new\` from a newer local-router writes a newer one.

## Publish

\`npm publish\`. The package ships JavaScript (\`src/\`, not \`vendor/\`): Node does not strip
TypeScript types under node_modules, so a TypeScript plugin must publish compiled output.
\`@local-router/core\` and \`effect\` stay peer dependencies: \`local-router plugin add\` satisfies
them with local-router's own copies, so the plugin runs on the host's core and Effect.
`
