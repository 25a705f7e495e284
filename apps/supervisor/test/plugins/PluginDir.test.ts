/**
 * Where the plugin directory is: one place, chosen from the environment the way the XDG base
 * directory convention says, with an override of local-router's own.
 */
import { describe, expect, it } from "vitest"
import * as PluginDir from "../../src/plugin/PluginDir.ts"

describe("the plugin directory", () => {
  it.each([
    [{ HOME: "/users/ann" }, "/users/ann/.local/share/local-router/plugins"],
    [{ HOME: "/users/ann", XDG_DATA_HOME: "/srv/data/ann" }, "/srv/data/ann/local-router/plugins"],
    [{ HOME: "/users/ann", XDG_DATA_HOME: "" }, "/users/ann/.local/share/local-router/plugins"],
    [{ HOME: "/users/ann", XDG_DATA_HOME: "/srv/data/ann", LOCAL_ROUTER_PLUGIN_DIR: "/srv/lr-plugins" }, "/srv/lr-plugins"]
  ])("%o -> %s", (env, expected) => {
    expect(PluginDir.location(env)).toBe(expected)
  })

  it("lists the installed plugins, not its links to local-router's own core and effect", async () => {
    const fs = await import("node:fs")
    const os = await import("node:os")
    const path = await import("node:path")
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "lr-plugindir-"))
    fs.writeFileSync(
      path.join(dir, "package.json"),
      JSON.stringify({ dependencies: { "@local-router/core": "file:/x/core", effect: "file:/x/effect", "local-router-backend-a": "file:tarballs/a-1.0.0.tgz", b: "^2.0.0" } })
    )
    expect([...PluginDir.installed(dir)]).toEqual([["local-router-backend-a", "file:tarballs/a-1.0.0.tgz"], ["b", "^2.0.0"]])
    expect([...PluginDir.installed(path.join(dir, "missing"))]).toEqual([])
    fs.rmSync(dir, { recursive: true })
  })
})
