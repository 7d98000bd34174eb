import hre from "hardhat";
import type { Address } from "viem";
import { deployGpuMesh } from "./lib/deployGpuMesh";

/**
 * Deploys GPU Mesh to the selected network and writes deployments/<chainId>.json.
 *   npx hardhat run scripts/deploy.ts --network localhost
 *   GPUMESH_RPC_URL=... GPUMESH_DEPLOYER_KEY=... npx hardhat run scripts/deploy.ts --network remote
 * Optional: GPUMESH_PAYMENT_TOKEN, GPUMESH_STAKE_TOKEN (existing tokens; dev tokens otherwise),
 * GPUMESH_GOVERNANCE, GPUMESH_TREASURY (addresses; the deployer otherwise).
 */
async function main() {
  const env = process.env;
  const { deployment, deploymentPath } = await deployGpuMesh(hre, {
    paymentToken: (env.GPUMESH_PAYMENT_TOKEN as Address | undefined) || undefined,
    stakeToken: (env.GPUMESH_STAKE_TOKEN as Address | undefined) || undefined,
    governance: (env.GPUMESH_GOVERNANCE as Address | undefined) || undefined,
    treasury: (env.GPUMESH_TREASURY as Address | undefined) || undefined,
  });
  console.table(
    Object.fromEntries(
      Object.entries(deployment.contracts).map(([name, record]) => [name, record]),
    ),
  );
  console.log(`payment token ${deployment.tokens.payment.symbol} ${deployment.tokens.payment.address}`);
  console.log(`stake token   ${deployment.tokens.stake.symbol} ${deployment.tokens.stake.address}`);
  console.log(`GPU models    ${deployment.gpuModels.map((m) => m.name).join(", ")}`);
  console.log(`deployment file ${deploymentPath}`);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
