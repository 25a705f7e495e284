/** Where the supervisor writes its servers' logs: the place each platform's tools look. */
import * as os from "node:os"
import * as path from "node:path"

export const logRoot = (env: Readonly<Record<string, string | undefined>> = process.env, platform = process.platform): string =>
  env.LOCAL_ROUTER_LOG_DIR ??
    (platform === "darwin"
      ? path.join(os.homedir(), "Library", "Logs", "local-router")
      : path.join(env.XDG_STATE_HOME ?? path.join(os.homedir(), ".local", "state"), "local-router", "logs"))

/** One `<server>.log` per supervised server. */
export const serverLogs = (env?: Readonly<Record<string, string | undefined>>, platform?: NodeJS.Platform) =>
  path.join(logRoot(env, platform), "servers")
