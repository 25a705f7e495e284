/** The JSON Schema of routing.yaml, generated from the Effect Schema so editors complete and check the file. */
import * as JSONSchema from "effect/JSONSchema"
import { RoutingFile } from "./RoutingSchema.ts"

export const make = (): object => ({
  ...JSONSchema.make(RoutingFile),
  $id: "https://local-router.dev/routing.schema.json",
  description: "local-router routing.yaml: backends, priorities per input kind, and categories"
})

export const render = (): string => `${JSON.stringify(make(), null, 2)}\n`
