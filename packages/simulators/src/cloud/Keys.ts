/**
 * API keys the cloud simulators accept, and the ids they stamp on answers. By default any
 * non-empty key passes, so tests only pin keys when the key itself is under test.
 */
import { randomBytes } from "node:crypto"
import type * as Cli from "../Cli.ts"

export type Accepted = ReadonlyArray<string> | "any"

export const flag: Cli.Flag = { name: "api-key", type: "string", help: "accepted API keys, comma-separated (default: any non-empty key)" }

export const accepts = (accepted: Accepted, key: string | undefined): boolean =>
  key !== undefined && key !== "" && (accepted === "any" || accepted.includes(key))

export const bearer = (header: string | undefined): string | undefined => {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? "")
  return m?.[1]?.trim()
}

/** `sk-abc…wxyz` → `sk-abc***wxyz`, as OpenAI echoes a rejected key. */
export const masked = (key: string): string => (key.length <= 8 ? "***" : `${key.slice(0, 6)}***${key.slice(-4)}`)

export const id = (prefix: string, length = 24): string => {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
  return prefix + [...randomBytes(length)].map((b) => alphabet[b % alphabet.length]).join("")
}
