import fs from "node:fs";
import { getAddress, isAddress, type Address } from "viem";
import { ConfigError } from "../internal/errors";
import type { MarketParameters } from "../protocol";

export interface ContractRecord {
  address: Address;
  deployBlock: number;
}

export interface TokenRecord {
  address: Address;
  symbol: string;
  decimals: number;
  dev: boolean;
}

/**
 * deployments/<chainId>.json: written by the one deployer (src/chain/deploy.ts, also behind scripts/deploy.ts and
 * the tests), read by the indexer, the CLI and the tools through loadDeployment.
 */
export interface Deployment {
  chainId: number;
  network: string;
  /** ISO time of the deployment; absent in hand-written files. */
  deployedAt?: string;
  startBlock: number;
  contracts: { GpuCatalog: ContractRecord; ProviderStaking: ContractRecord; JobMarket: ContractRecord };
  /** The linked libraries JobMarket delegates to (no events of their own: they emit as JobMarket). */
  libraries?: { OfferBook: Address; ParameterBook: Address };
  tokens: { payment: TokenRecord; stake: TokenRecord };
  roles: { governance: Address; treasury: Address; arbiter: Address };
  stakePerPaymentUnit: string;
  /** The parameters the market was deployed with (terms snapshot 1). */
  parameters?: MarketParameters;
  gpuModels: Array<{ id: string; name: string; vramGb: number }>;
}

function fail(file: string, what: string): never {
  throw new ConfigError(`deployment file ${file}: ${what}`);
}

function readAddress(file: string, field: string, value: unknown): Address {
  if (typeof value !== "string" || !isAddress(value, { strict: false })) fail(file, `${field} is not an address`);
  return getAddress(value);
}

/** Reads and validates a deployment file; the error names the file and the bad field. */
export function loadDeployment(file: string): Deployment {
  let raw: any;
  try {
    raw = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (error) {
    throw new ConfigError(`cannot read deployment file ${file}: ${(error as Error).message}`, error);
  }
  if (!Number.isInteger(raw?.chainId)) fail(file, "chainId is missing");
  const contract = (name: "GpuCatalog" | "ProviderStaking" | "JobMarket"): ContractRecord => {
    const record = raw.contracts?.[name];
    if (!record) fail(file, `contracts.${name} is missing`);
    if (!Number.isInteger(record.deployBlock) || record.deployBlock < 0) fail(file, `contracts.${name}.deployBlock is not a block number`);
    return { address: readAddress(file, `contracts.${name}.address`, record.address), deployBlock: record.deployBlock };
  };
  const token = (name: "payment" | "stake"): TokenRecord => {
    const record = raw.tokens?.[name];
    if (!record) fail(file, `tokens.${name} is missing`);
    if (!Number.isInteger(record.decimals)) fail(file, `tokens.${name}.decimals is missing`);
    return {
      address: readAddress(file, `tokens.${name}.address`, record.address),
      symbol: String(record.symbol ?? ""),
      decimals: record.decimals,
      dev: Boolean(record.dev),
    };
  };
  const contracts = { GpuCatalog: contract("GpuCatalog"), ProviderStaking: contract("ProviderStaking"), JobMarket: contract("JobMarket") };
  return {
    chainId: raw.chainId,
    network: String(raw.network ?? ""),
    startBlock: Number.isInteger(raw.startBlock)
      ? raw.startBlock
      : Math.min(...Object.values(contracts).map((c) => c.deployBlock)),
    contracts,
    tokens: { payment: token("payment"), stake: token("stake") },
    roles: {
      governance: readAddress(file, "roles.governance", raw.roles?.governance),
      treasury: readAddress(file, "roles.treasury", raw.roles?.treasury),
      arbiter: readAddress(file, "roles.arbiter", raw.roles?.arbiter),
    },
    stakePerPaymentUnit: String(raw.stakePerPaymentUnit ?? "1"),
    gpuModels: Array.isArray(raw.gpuModels) ? raw.gpuModels : [],
  };
}
