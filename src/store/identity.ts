import type { Deployment } from "../chain/deployment";
import { GpuMeshError } from "../internal/errors";
import type { Store } from "./db";

/** What a database indexes: recorded with its first batch, checked at every start. */
export interface DeploymentIdentity {
  chainId: number;
  /** Contract name to lowercase address. */
  contracts: Record<string, string>;
  startBlock: number;
  startBlockHash: string;
}

interface IdentityRow {
  chain_id: number;
  contracts: string;
  start_block: number;
  start_block_hash: string;
}

function mismatch(message: string): GpuMeshError {
  return new GpuMeshError(message, { code: "DEPLOYMENT_MISMATCH" });
}

function contractsOf(deployment: Deployment): Record<string, string> {
  const entries = Object.entries(deployment.contracts).map(([name, record]) => [name, record.address.toLowerCase()] as const);
  return Object.fromEntries(entries.sort(([a], [b]) => a.localeCompare(b)));
}

export function readIdentity(store: Store): DeploymentIdentity | undefined {
  const row = store.db.prepare<[], IdentityRow>("SELECT * FROM deployment_identity WHERE id = 1").get();
  return (
    row && {
      chainId: row.chain_id,
      contracts: JSON.parse(row.contracts) as Record<string, string>,
      startBlock: row.start_block,
      startBlockHash: row.start_block_hash,
    }
  );
}

/** Refuses a database recorded for another deployment (needs no node: runs when the indexer is created). */
export function checkDeployment(store: Store, deployment: Deployment): void {
  const stored = readIdentity(store);
  if (!stored) return;
  const advice = `index this deployment into another --db (or delete ${store.file})`;
  if (stored.chainId !== deployment.chainId) {
    throw mismatch(`database ${store.file} indexes chain ${stored.chainId}, not chain ${deployment.chainId}; ${advice}`);
  }
  const expected = contractsOf(deployment);
  for (const name of new Set([...Object.keys(stored.contracts), ...Object.keys(expected)])) {
    if (stored.contracts[name] !== expected[name]) {
      throw mismatch(
        `database ${store.file} indexes another deployment: its ${name} is ${stored.contracts[name] ?? "(none)"}, ` +
          `this deployment's is ${expected[name] ?? "(none)"}; ${advice}`,
      );
    }
  }
  if (stored.startBlock !== deployment.startBlock) {
    throw mismatch(
      `database ${store.file} was indexed from block ${stored.startBlock}, this deployment starts at block ${deployment.startBlock}; ${advice}`,
    );
  }
}

/**
 * Checks the start block's hash on the node against the recorded one, or records the identity of a database that has
 * none yet (a new one, or one made before identities were recorded).
 */
export function checkOrRecordChain(store: Store, deployment: Deployment, startBlockHash: string): void {
  const stored = readIdentity(store);
  const recordRate = () =>
    store.db.prepare("UPDATE deployment_identity SET stake_per_payment_unit = ? WHERE id = 1").run(deployment.stakePerPaymentUnit);
  if (stored) {
    if (stored.startBlockHash !== startBlockHash.toLowerCase()) {
      throw mismatch(
        `database ${store.file} was indexed from another chain with id ${stored.chainId}: block ${stored.startBlock} is ` +
          `${stored.startBlockHash} there and ${startBlockHash.toLowerCase()} on this node (a restarted dev node starts a new ` +
          `chain); delete ${store.file} or index into another --db`,
      );
    }
    recordRate();
    return;
  }
  store.db
    .prepare("INSERT INTO deployment_identity (id, chain_id, contracts, start_block, start_block_hash) VALUES (1, ?, ?, ?, ?)")
    .run(deployment.chainId, JSON.stringify(contractsOf(deployment)), deployment.startBlock, startBlockHash.toLowerCase());
  recordRate();
}
