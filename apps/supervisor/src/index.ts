/**
 * local-router as a library: the same router the CLI and gateway use, with the built-in
 * backends registered.
 *
 *   import { createRouter } from "@local-router/supervisor"
 *   const router = await createRouter({ config: "routing.yaml" })
 *   const { text, backend, trace } = await router.runLocalLlm("Hello", "fast")
 */
import { LocalRouter } from "@local-router/core"
import { builtins } from "./Builtins.ts"

export const createRouter = (options: LocalRouter.CreateOptions = {}): Promise<LocalRouter.LocalRouter> =>
  LocalRouter.create({ builtins, ...options })

/** One question, one answer: the successor of `router.run_local_llm(prompt, category)`. */
export const runLocalLlm = async (prompt: string, category = "default", options: LocalRouter.CreateOptions = {}) => {
  const router = await createRouter({ ...options, watch: false })
  try {
    return await router.runLocalLlm(prompt, category)
  } finally {
    await router.close()
  }
}
