/** A routing.yaml that cannot be used, with every problem located by file, line and column. */
import * as Schema from "effect/Schema"

export class Issue extends Schema.Class<Issue>("ConfigIssue")({
  file: Schema.String,
  line: Schema.Number,
  column: Schema.Number,
  /** The field's path, e.g. `categories.fast.models.ollama`; empty for the whole file. */
  path: Schema.String,
  message: Schema.String
}) {
  override toString(): string {
    return `${this.file}:${this.line}:${this.column} ${this.path ? `${this.path}: ` : ""}${this.message}`
  }
}

export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  reason: Schema.Literals(["NotFound", "Unreadable", "Invalid"]),
  file: Schema.String,
  issues: Schema.Array(Issue),
  detail: Schema.optional(Schema.String)
}) {
  override get message(): string {
    if (this.reason !== "Invalid") return this.detail ?? `${this.file}: ${this.reason}`
    const n = this.issues.length
    return `${this.file}: ${n} problem${n === 1 ? "" : "s"}\n${this.issues.map((i) => `  ${i}`).join("\n")}`
  }
}

export const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>(
    (acc, segment) => typeof segment === "number" ? `${acc}[${segment}]` : acc ? `${acc}.${String(segment)}` : String(segment),
    ""
  )
