import hre, { ethers } from "hardhat";
import { expect } from "chai";
import { time } from "@nomicfoundation/hardhat-toolbox/network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { ContractTransactionResponse, Signature } from "ethers";
import { deployGpuMesh, type DeployOptions } from "../../scripts/lib/deployGpuMesh";
import type {
  DevStablecoin,
  DevStakeToken,
  GpuCatalog,
  JobMarket,
  ProviderStaking,
} from "../../typechain-types";
import type { OfferParamsStruct } from "../../typechain-types/contracts/JobMarket";

// ------------------------------------------------------------------ units and the contract's arithmetic
export const USDC = 10n ** 6n;
export const MESH = 10n ** 18n;
/** Stake-token units per payment-token unit with the dev tokens (18 vs 6 decimals, one to one). */
export const STAKE_PER_PAYMENT_UNIT = 10n ** 12n;
export const MIN_STAKE = 100n * MESH;
export const UNBONDING_PERIOD = 7 * 24 * 60 * 60;
export const HOUR = 3600;

export const H100 = ethers.keccak256(ethers.toUtf8Bytes("H100-SXM-80GB"));
export const A100 = ethers.keccak256(ethers.toUtf8Bytes("A100-SXM-80GB"));
export const SPEC_HASH = ethers.id("spec: llama-70b finetune");
export const RESULT_HASH = ethers.id("result: checkpoint");
export const REASON_HASH = ethers.id("reason: GPUs never came up");

/** An odd price so that costs of partial hours need rounding. */
export const PRICE = 1_999_999n;

/** Mirrors JobMath.costUp. */
export function costUp(pricePerGpuHour: bigint, gpus: bigint | number, seconds: bigint | number): bigint {
  return (pricePerGpuHour * BigInt(gpus) * BigInt(seconds) + 3599n) / 3600n;
}
/** Mirrors JobMath.bpsUp. */
export function bpsUp(amount: bigint, bps: bigint | number): bigint {
  return (amount * BigInt(bps) + 9_999n) / 10_000n;
}
/** Mirrors JobMath.bpsDown. */
export function bpsDown(amount: bigint, bps: bigint | number): bigint {
  return (amount * BigInt(bps)) / 10_000n;
}

export const JobState = {
  None: 0n,
  Created: 1n,
  Running: 2n,
  Completed: 3n,
  Disputed: 4n,
  Settled: 5n,
  Resolved: 6n,
  Cancelled: 7n,
  Reclaimed: 8n,
} as const;

export const Parameter = {
  ProtocolFeeBps: 0,
  CancelFeeBps: 1,
  CollateralBps: 2,
  ExpirySlashBps: 3,
  AcceptWindow: 4,
  DisputeWindow: 5,
  AbandonGrace: 6,
} as const;

export function region(code: string): string {
  return ethers.zeroPadBytes(ethers.toUtf8Bytes(code), 16);
}

// ------------------------------------------------------------------ fixtures
export interface Actors {
  governance: HardhatEthersSigner;
  treasury: HardhatEthersSigner;
  provider: HardhatEthersSigner;
  provider2: HardhatEthersSigner;
  client: HardhatEthersSigner;
  client2: HardhatEthersSigner;
  sponsor: HardhatEthersSigner;
  stranger: HardhatEthersSigner;
}

export async function getActors(): Promise<Actors> {
  const [governance, treasury, provider, provider2, client, client2, sponsor, stranger] = await ethers.getSigners();
  return { governance, treasury, provider, provider2, client, client2, sponsor, stranger };
}

export async function deploy(options: DeployOptions = {}) {
  const actors = await getActors();
  const deployed = await deployGpuMesh(hre, {
    deploymentsDir: null,
    treasury: actors.treasury.address,
    ...options,
  });
  return { ...deployed, actors };
}

/** Dev tokens, every actor funded and approved, nothing registered. */
export async function deployedFixture() {
  const deployed = await deploy();
  const payment = deployed.payment as unknown as DevStablecoin;
  const stake = deployed.stake as unknown as DevStakeToken;
  const { market, staking, catalog, actors } = deployed;
  const marketAddress = await market.getAddress();
  const stakingAddress = await staking.getAddress();
  for (const signer of Object.values(actors)) {
    await payment.mint(signer.address, 1_000_000n * USDC);
    await stake.mint(signer.address, 1_000_000n * MESH);
    await payment.connect(signer).approve(marketAddress, ethers.MaxUint256);
    await stake.connect(signer).approve(stakingAddress, ethers.MaxUint256);
  }
  return { market, staking, catalog, payment, stake, actors, marketAddress, stakingAddress };
}

export type Env = Awaited<ReturnType<typeof deployedFixture>>;

export async function offerExpiry(fromNowSeconds = 30 * 24 * HOUR): Promise<number> {
  return (await time.latest()) + fromNowSeconds;
}

export async function offerParams(overrides: Partial<OfferParamsStruct> = {}): Promise<OfferParamsStruct> {
  return {
    gpuModel: H100,
    gpus: 8,
    pricePerGpuHour: PRICE,
    minDuration: 600,
    maxDuration: 7 * 24 * HOUR,
    region: region("eu-west"),
    carbonIntensity: 120,
    renewableBps: 6_500,
    expiresAt: await offerExpiry(),
    ...overrides,
  };
}

export async function registerAndStake(env: Env, provider: HardhatEthersSigner, amount = 1_000n * MESH) {
  await env.staking.connect(provider).register(`https://${provider.address.slice(2, 8)}.gpu.example/meta.json`);
  await env.staking.connect(provider).stake(amount);
}

export async function createOffer(
  env: Env,
  provider: HardhatEthersSigner,
  overrides: Partial<OfferParamsStruct> = {},
): Promise<bigint> {
  const offerId = await env.market.nextOfferId();
  await env.market.connect(provider).createOffer(await offerParams(overrides));
  return offerId;
}

/** A staked provider with one 8-GPU H100 offer. */
export async function marketFixture() {
  const env = await deployedFixture();
  await registerAndStake(env, env.actors.provider);
  const offerId = await createOffer(env, env.actors.provider);
  return { ...env, offerId };
}

export type MarketEnv = Awaited<ReturnType<typeof marketFixture>>;

export interface JobTerms {
  gpus?: number;
  duration?: number;
  maxPrice?: bigint;
}

export async function createJob(env: MarketEnv, client: HardhatEthersSigner, terms: JobTerms = {}) {
  const { gpus = 2, duration = 2 * HOUR, maxPrice = PRICE } = terms;
  const jobId = await env.market.nextJobId();
  await env.market.connect(client).createJob(env.offerId, gpus, duration, maxPrice, SPEC_HASH);
  return jobId;
}

/** Creates a job and has the provider accept it; returns its id and start time. */
export async function runningJob(env: MarketEnv, terms: JobTerms = {}) {
  const jobId = await createJob(env, env.actors.client, terms);
  await env.market.connect(env.actors.provider).acceptJob(jobId);
  const job = await env.market.getJob(jobId);
  return { jobId, startedAt: job.startedAt, job };
}

/** Payment-token balances (wallet + credited) of the accounts, their credits, the market's holding and its fees. */
export async function paymentLedger(env: Env, accounts: Record<string, string>) {
  const result: Record<string, bigint> = {};
  for (const [name, address] of Object.entries(accounts)) {
    const credit = await env.market.balanceOf(address);
    result[name] = (await env.payment.balanceOf(address)) + credit;
    result[`${name}Credit`] = credit;
  }
  result.market = await env.payment.balanceOf(env.marketAddress);
  result.fees = await env.market.feesAccrued();
  return result;
}

export async function clientProviderLedger(env: MarketEnv) {
  return paymentLedger(env, { client: env.actors.client.address, provider: env.actors.provider.address });
}

/**
 * Checks refund + provider pay + fee == escrow for a job, from balance deltas taken after its creation and after its
 * end (streamed claims in between count as provider pay). The fee and credited payouts stay in the market.
 */
export async function expectMoneyIdentity(
  env: MarketEnv,
  jobId: bigint,
  before: Record<string, bigint>,
  expected: { refund: bigint; providerPay: bigint; fee: bigint },
) {
  const after = await clientProviderLedger(env);
  const job = await env.market.getJob(jobId);
  const refund = after.client - before.client;
  const providerPay = after.provider - before.provider;
  const fee = after.fees - before.fees;
  expect({ refund, providerPay, fee }).to.deep.equal(expected);
  expect(refund + providerPay + fee).to.equal(job.escrow);
  const creditedDelta = after.clientCredit + after.providerCredit - before.clientCredit - before.providerCredit;
  expect(before.market - after.market).to.equal(refund + providerPay - creditedDelta);
}

// ------------------------------------------------------------------ EIP-2612
export async function signPermit(
  token: DevStablecoin | DevStakeToken,
  owner: HardhatEthersSigner,
  spender: string,
  value: bigint,
  deadline: bigint,
): Promise<{ value: bigint; deadline: bigint; v: number; r: string; s: string }> {
  const { chainId } = await ethers.provider.getNetwork();
  const domain = {
    name: await token.name(),
    version: "1",
    chainId,
    verifyingContract: await token.getAddress(),
  };
  const types = {
    Permit: [
      { name: "owner", type: "address" },
      { name: "spender", type: "address" },
      { name: "value", type: "uint256" },
      { name: "nonce", type: "uint256" },
      { name: "deadline", type: "uint256" },
    ],
  };
  const message = { owner: owner.address, spender, value, nonce: await token.nonces(owner.address), deadline };
  const signature: Signature = ethers.Signature.from(await owner.signTypedData(domain, types, message));
  return { value, deadline, v: signature.v, r: signature.r, s: signature.s };
}

export async function blockTimestampOf(tx: ContractTransactionResponse): Promise<bigint> {
  const receipt = await tx.wait();
  const block = await ethers.provider.getBlock(receipt!.blockNumber);
  return BigInt(block!.timestamp);
}

export type { JobMarket, ProviderStaking, GpuCatalog };
