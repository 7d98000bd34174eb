import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { freePort } from "../../../src/internal/net";

/** Tests import the one freePort (src/internal/net.ts) from here with the other helpers. */
export { freePort };

export interface Anvil {
  url: string;
  port: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

const ANVIL = path.join(__dirname, "..", "..", "..", "node_modules", ".bin", "anvil");

async function rpcReady(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
    });
    return response.ok;
  } catch {
    return false;
  }
}

/** Starts a silent anvil on a free loopback port; stop() kills it (that process only). */
export async function startAnvil(extraArgs: string[] = []): Promise<Anvil> {
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const child = spawn(ANVIL, ["--host", "127.0.0.1", "--port", String(port), "--silent", "--accounts", "20", "--disable-code-size-limit", ...extraArgs], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (chunk) => (stderr += chunk));
    const url = `http://127.0.0.1:${port}`;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    const started = Date.now();
    while (Date.now() - started < 20_000 && child.exitCode === null) {
      if (await rpcReady(url)) {
        return {
          url,
          port,
          process: child,
          async stop() {
            if (child.exitCode === null && child.signalCode === null) {
              child.kill("SIGTERM");
              await exited;
            }
          },
        };
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    if (child.exitCode === null) child.kill("SIGKILL");
    // A port taken between freePort() and anvil's bind: try another.
    if (attempt < 3 && /address already in use/i.test(stderr)) continue;
    throw new Error(`anvil did not start on ${url}: ${stderr}`);
  }
}
