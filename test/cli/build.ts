import { execFileSync } from "node:child_process";
import path from "node:path";

/**
 * The CLI tests run `gpumesh` as users do, from the compiled dist/ (bin/gpumesh.js): build it once before the suite,
 * so that the tests always run the sources they sit beside (`tsc -b` is incremental: with nothing changed it takes about a second).
 */
export function mochaGlobalSetup(): void {
  const root = path.join(__dirname, "..", "..");
  execFileSync(process.execPath, [require.resolve("typescript/bin/tsc"), "-b", path.join(root, "tsconfig.build.json")], {
    cwd: root,
    stdio: "inherit",
  });
}
