/** `local-router describe <image> [--prompt] [--json]`: an image, routed to a vision backend. */
import * as Command from "effect/cli/Command"
import * as Flag from "effect/cli/Flag"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import { existingFile, jsonOption, routingFile } from "../CliConfig.ts"
import { root } from "../Root.ts"

const prompt = Flag.String("prompt").pipe(Flag.withDescription("A question about the image (default: describe it)"), Flag.optional)
const length = Flag.Literals("length", ["short", "normal", "long"]).pipe(Flag.withDescription("Caption length (default normal)"), Flag.withDefault("normal" as const))
const category = Flag.String("category").pipe(Flag.withDescription("The category to route (default vision)"), Flag.withDefault("vision"))

export const describe = Command.make(
  "describe",
  { image: existingFile("image", "The image: PNG, JPEG, WebP or GIF"), prompt, length, category, json: jsonOption },
  (args) =>
    Effect.gen(function*() {
      const parent = yield* root
      const { router } = yield* routingFile
      const { router: r } = yield* router(parent.config)
      // Imported here: the image and PDF machinery is heavy and only these commands need it.
      const { Vision } = yield* Effect.promise(() => import("@local-router/vision"))
      const vision = yield* Vision.make(r)
      const answer = yield* (args.prompt._tag === "Some"
        ? vision.queryImage(args.image, args.prompt.value, { category: args.category })
        : vision.describeImage(args.image, { length: args.length, category: args.category }))
      if (args.json) return yield* Console.log(JSON.stringify(answer, null, 2))
      yield* Console.log(answer.answer)
      yield* Console.error(`answered by ${answer.backend} (${answer.model}) for a ${answer.image.width}x${answer.image.height} ${answer.image.mime}`)
    }).pipe(Effect.scoped)
).pipe(Command.withDescription("Describe an image, or ask about it with --prompt (Moondream Station -> Ollama -> cloud by default)"))
