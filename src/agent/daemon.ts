import fs from "node:fs";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { createLogger, type Logger } from "../internal/logger";
import { redactUrl } from "../internal/errors";
import { createAgent, type Agent } from "./agent";
import { createAgentApi } from "./api";
import type { AgentConfig } from "./config";
import { detectGpus } from "./gpus";

export const AGENT_VERSION = "0.1.0";

export interface RunningAgent {
  agent: Agent;
  apiUrl: string;
  stop(): Promise<void>;
}

/** Starts the loop and the HTTP API; writes stateDir/agent.json (pid, API URL) for `gpumesh agent status`. */
export async function startAgentDaemon(config: AgentConfig, log: Logger = createLogger({ name: "gpumesh-agent" })): Promise<RunningAgent> {
  const inventory = detectGpus(config);
  const agent = await createAgent({ config, log, inventory });
  const server = createAgentApi({
    state: agent.state,
    log,
    metrics: agent.metrics,
    domain: { chainId: agent.context.chain.id, verifyingContract: agent.context.market },
    provider: agent.provider,
    jobsDir: path.join(config.stateDir, "jobs"),
    policyRefusal: agent.policyRefusal,
    metadata: () => ({
      name: `GPU Mesh provider ${agent.provider}`,
      endpoint: config.api.publicUrl ?? apiUrl,
      agentVersion: AGENT_VERSION,
      hardware: inventory.map((gpu) => ({ index: gpu.index, model: gpu.model })),
    }),
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.api.port, config.api.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const apiUrl = `http://${config.api.host}:${port}`;
  fs.writeFileSync(path.join(config.stateDir, "agent.json"), JSON.stringify({ pid: process.pid, apiUrl, provider: agent.provider }, null, 2) + "\n");
  log.info({ msg: "agent started", provider: agent.provider, apiUrl, rpcUrl: redactUrl(config.rpcUrl), gpus: inventory.map((gpu) => gpu.index), runner: config.runner.kind });
  agent.start();
  return {
    agent,
    apiUrl,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Open log streams would otherwise hold the close forever.
      server.closeAllConnections();
      await closed;
      await agent.stop();
      log.info({ msg: "agent stopped" });
    },
  };
}
