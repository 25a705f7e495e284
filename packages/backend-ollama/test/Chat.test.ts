/** The pure translation to and from /api/chat, as tables. */
import { describe, expect, it } from "@effect/vitest"
import * as Schema from "effect/Schema"
import type { ChatResponse } from "ollama"
import { Chat, OllamaOptions } from "../src/index.ts"

const options = (raw: Record<string, unknown> = {}) => Schema.decodeUnknownSync(OllamaOptions.OllamaOptions)(raw)
const image = { data: new Uint8Array([1, 2, 3]), mime: "image/png" }

const final = (extra: Partial<ChatResponse>): ChatResponse => ({
  model: "m",
  created_at: new Date(),
  message: { role: "assistant", content: "" },
  done: true,
  done_reason: "stop",
  total_duration: 1,
  load_duration: 1,
  prompt_eval_count: 26,
  prompt_eval_duration: 1,
  eval_count: 3,
  eval_duration: 1,
  ...extra
})

describe("Chat.toChatRequest", () => {
  it("a caption task with no words asks the vision model for a caption of that length", () => {
    const request = Chat.toChatRequest(
      { model: "moondream", messages: [{ role: "user", content: "", images: [image] }], task: { _tag: "Caption", length: "short" } },
      options()
    )
    expect(request.messages).toEqual([{ role: "user", content: "Describe this image in one short sentence.", images: [image.data] }])
  })

  it("a caption task keeps the user's own words", () => {
    const request = Chat.toChatRequest(
      { model: "moondream", messages: [{ role: "user", content: "What breed?", images: [image] }], task: { _tag: "Caption", length: "long" } },
      options()
    )
    expect(request.messages[0]?.content).toBe("What breed?")
  })

  it("a per-request keep-alive hint beats routing.yaml's; no options means no options key", () => {
    const request = Chat.toChatRequest({ model: "m", messages: [], extra: { keepAlive: "-1m" } }, options({ keepAlive: "5m" }))
    expect(request.keep_alive).toBe("-1m")
    expect("options" in request).toBe(false)
  })

  it("keepAlive without a unit is rejected at config time (Ollama would answer 400)", () => {
    expect(() => options({ keepAlive: "300" })).toThrow(/duration/)
    expect(options({ keepAlive: 300 }).keepAlive).toBe(300)
  })
})

describe("Chat.eventsOf", () => {
  it.each([
    ["stop", "stop"],
    ["length", "length"],
    ["load", "other"],
    [undefined, "stop"]
  ] as const)("done_reason %s finishes as %s", (doneReason, finishReason) => {
    const events = Chat.eventsOf(final(doneReason === undefined ? { done_reason: undefined as unknown as string } : { done_reason: doneReason }))
    expect(events.at(-1)).toMatchObject({ _tag: "Done", finishReason })
  })

  it("metrics absent on the wire (omitempty) give no Usage rather than zeros", () => {
    const events = Chat.eventsOf(final({ prompt_eval_count: undefined as unknown as number, eval_count: undefined as unknown as number }))
    expect(events.map((e) => e._tag)).toEqual(["Done"])
  })

  it("a token chunk is one TextDelta; an empty one is nothing", () => {
    expect(Chat.eventsOf({ ...final({}), done: false, message: { role: "assistant", content: " sky" } })).toMatchObject([{ _tag: "TextDelta", text: " sky" }])
    expect(Chat.eventsOf({ ...final({}), done: false })).toEqual([])
  })
})
