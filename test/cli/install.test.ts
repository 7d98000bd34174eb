import { expect } from "chai";
import fs from "node:fs";
import path from "node:path";
import { ROOT } from "./helpers";

/** What `npm install` runs: every dependency's install script reviewed, and the CLI built. */

const manifest = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8"));
const lock = JSON.parse(fs.readFileSync(path.join(ROOT, "package-lock.json"), "utf8"));

describe("npm install", function () {
  it("declares in allowScripts every locked dependency with an install script (npm 11 warns otherwise)", function () {
    const withScripts = Object.entries(lock.packages as Record<string, { hasInstallScript?: boolean }>)
      .filter(([location, entry]) => location !== "" && entry.hasInstallScript)
      .map(([location]) => location.slice(location.lastIndexOf("node_modules/") + "node_modules/".length));
    expect(withScripts).to.include("better-sqlite3");
    expect(Object.keys(manifest.allowScripts).sort()).to.deep.equal([...new Set(withScripts)].sort());
  });

  it("builds the CLI at install and before npm start", function () {
    expect(manifest.scripts.prepare).to.contain("build:cli");
    expect(manifest.scripts.start).to.match(/^npm run build:cli && exec node bin\/gpumesh\.js start$/);
    expect(manifest.scripts["build:cli"]).to.equal("tsc -b tsconfig.build.json");
  });
});
