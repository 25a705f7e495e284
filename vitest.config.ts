import { defineConfig } from "vitest/config"

// Tests import our packages' TypeScript sources (package "exports" under this condition); the
// processes they start run the compiled dist/, which globalSetup brings up to date first.
const conditions = ["@local-router/source", "module", "node", "development|production"]

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    include: ["packages/*/test/**/*.test.ts", "apps/*/test/**/*.test.ts", "examples/*/test/**/*.test.ts"],
    globalSetup: ["./scripts/build.js"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ["default"],
    passWithNoTests: false
  }
})
