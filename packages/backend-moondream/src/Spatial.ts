/**
 * Detect and point: Moondream's answers about where things are, which have no place in the
 * generic text contract. Coordinates are fractions (0–1) of the image's width and height,
 * as Moondream sends them; an object that is not there is an empty list, not an error.
 */
import { BackendError } from "@local-router/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as StationError from "./StationError.ts"

/** A bounding box, corners as fractions of the image size (`x_min` … on the wire). */
export const Box = Schema.Struct({
  xMin: Schema.Number,
  yMin: Schema.Number,
  xMax: Schema.Number,
  yMax: Schema.Number
}).pipe(Schema.encodeKeys({ xMin: "x_min", yMin: "y_min", xMax: "x_max", yMax: "y_max" }))
export type Box = typeof Box.Type

export const Point = Schema.Struct({ x: Schema.Number, y: Schema.Number })
export type Point = typeof Point.Type

export const Detected = Schema.Struct({ objects: Schema.Array(Box) })
export type Detected = typeof Detected.Type

export const Pointed = Schema.Struct({ points: Schema.Array(Point) })
export type Pointed = typeof Pointed.Type

export interface SpatialRequest {
  readonly image: { readonly data: Uint8Array; readonly mime: string }
  /** What to look for, e.g. "cat" or "license plate". */
  readonly object: string
  /** At most this many results (Moondream's `settings.max_objects`). */
  readonly maxObjects?: number
}

export const wireBody = (request: SpatialRequest, imageUrl: string, timeoutSeconds: number | undefined) => ({
  image_url: imageUrl,
  object: request.object,
  ...(request.maxObjects === undefined ? {} : { settings: { max_objects: request.maxObjects } }),
  ...(timeoutSeconds === undefined ? {} : { timeout: timeoutSeconds })
})

/** Decodes Moondream's answer: a 200-with-error first, then the expected shape, else Upstream. */
export const decode = <A, I>(backend: string, schema: Schema.Codec<A, I>, body: unknown): Effect.Effect<A, BackendError.BackendError> => {
  const error = StationError.fromBody(backend, body)
  if (error) return Effect.fail(error)
  return Schema.decodeUnknownEffect(schema)(body).pipe(
    Effect.mapError((e) =>
      new BackendError.BackendError({
        reason: "Upstream",
        backend,
        message: `${backend}: Moondream's answer has an unexpected shape: ${e.message.slice(0, 300)}`
      })
    )
  )
}
