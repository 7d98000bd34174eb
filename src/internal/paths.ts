import fs from "node:fs";
import path from "node:path";

/** The checkout's root (the folder of package.json): the same from src/ under ts-node and from the compiled dist/. */
export const REPOSITORY_ROOT = (() => {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, "package.json"))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${__dirname}`);
  }
})();
