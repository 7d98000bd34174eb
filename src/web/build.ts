import { spawn } from "node:child_process";
import path from "node:path";
import { ConfigError } from "../internal/errors";
import { REPOSITORY_ROOT } from "../internal/paths";
import { WEB_BUILD_DIR } from "./static";

const ROOT = REPOSITORY_ROOT;
const VITE_CLI = path.join(ROOT, "node_modules", "vite", "bin", "vite.js");
const VITE_CONFIG = path.join(ROOT, "src", "web", "vite.config.mts");

/** Builds the web app into build/web (what `npm run build:web` does); Vite's warnings go to our stderr. */
export function buildWebApp(): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [VITE_CLI, "build", "--config", VITE_CONFIG], { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] });
    child.once("error", reject);
    child.once("exit", (code) => (code === 0 ? resolve(WEB_BUILD_DIR) : reject(new ConfigError(`building the web app (vite build) exited with ${code}`))));
  });
}
