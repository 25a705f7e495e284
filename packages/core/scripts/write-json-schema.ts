// Regenerates routing.schema.json from the Effect Schema: ./run node packages/core/scripts/write-json-schema.ts
import * as fs from "node:fs"
import * as JsonSchema from "../src/JsonSchema.ts"

const target = new URL("../routing.schema.json", import.meta.url)
fs.writeFileSync(target, JsonSchema.render())
console.log(`wrote ${target.pathname.split("/").slice(-3).join("/")}`)
