/**
 * The routing.yaml the agent tests run on, over TestGateway's four scripted backends: `agent`
 * tries mlx then ollama (both can call tools, reason and keep to a schema, as the tests'
 * abilities declare), `plain` has only the cloud backend, left without tools, and `embed`
 * makes vectors on ollama, falling back to cloud only because both name the same space.
 */
import { type Abilities, backends, type Name } from "./TestGateway.ts"

export const yaml = `${backends}priorities:
  text: [mlx, ollama, cloud]
  image: [vision, cloud]
  embed: [ollama, cloud]
categories:
  agent:
    input: text
    models: { mlx: m-mlx, ollama: "qwen3:8b" }
  plain:
    input: text
    models: { cloud: small-model }
  embed:
    input: embed
    models:
      ollama: { model: "nomic-embed-text", space: nomic }
      cloud: { model: "nomic-embed-text-v1.5", space: nomic }
`

export const agentAbilities: Partial<Record<Name, Abilities>> = {
  mlx: { capabilities: { tools: true, reasoning: true, jsonSchema: true } },
  ollama: { capabilities: { tools: true, reasoning: true, jsonSchema: true }, embed: [{ dimensions: 8 }] },
  cloud: { embed: [{ dimensions: 8 }] }
}

export const weather = {
  type: "function" as const,
  function: {
    name: "get_weather",
    description: "Weather in a city",
    parameters: { type: "object" as const, properties: { city: { type: "string" as const } }, required: ["city"] }
  }
}
