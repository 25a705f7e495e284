/** The JSON Schema of routing.yaml, generated from the Effect Schema so editors complete and check the file. */
import * as JsonSchema from "effect/JsonSchema"
import * as Schema from "effect/Schema"
import { RoutingFile } from "./RoutingSchema.ts"

export const make = (): object => {
  // Draft-07, which every YAML editor reads; unknown keys are errors, as the loader makes them.
  const document = JsonSchema.toDocumentDraft07(Schema.toJsonSchemaDocument(RoutingFile, { onExcessProperty: "error" }))
  return {
    $schema: JsonSchema.META_SCHEMA_URI_DRAFT_07,
    ...(Object.keys(document.definitions).length > 0 ? { definitions: document.definitions } : {}),
    ...document.schema,
    $id: "https://local-router.dev/routing.schema.json",
    description: "local-router routing.yaml: backends, priorities per input kind, and categories"
  }
}

export const render = (): string => `${JSON.stringify(make(), null, 2)}\n`
