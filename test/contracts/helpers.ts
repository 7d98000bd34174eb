import hre, { ethers } from "hardhat";
import { expect } from "chai";
import { time } from "@nomicfoundation/hardhat-toolbox/network-helpers";
import type { HardhatEthersSigner } from "@nomicfoundation/hardhat-ethers/signers";
import type { ContractTransactionResponse, Signature } from "ethers";
import { createPublicClient, createWalletClient, custom, defineChain, type Address } from "viem";
import type { DeployOptions } from "../../scripts/lib/deployGpuMesh";
import { deployGpuMesh as deployWithViem } from "../../src/chain/deploy";
import type {
  DevStablecoin,
  DevStakeToken,
  GpuCatalog,
  JobMarket,
  ProviderStaking,
} from "../../typechain-types";
import type { OfferParamsStruct } from "../../typechain-types/contracts/JobMarket";
import {
  CHAIN_JOB_STATES,
  DEFAULT_PARAMETERS,
  OFFER_FIELDS,
  PARAMETER_NAMES,
  bpsDown,
  bpsUp,
  costUp,
  RECEIPT_DOMAIN,
  USAGE_RECEIPT_TYPES,
  type ChainJobState,
  type ParameterName,
} from "../../src/protocol";

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
export const DECLINE_REASON = ethers.encodeBytes32String("no capacity");

/** An odd price so that costs of partial hours need rounding. */
export const PRICE = 1_999_999n;

/** JobMath's rounding (costUp, bpsUp, bpsDown), from the one TypeScript copy of it. */
export { bpsDown, bpsUp, costUp };
/** Escrow of a job: cost plus the fee on cost (JobLib.escrow). */
export function escrowOf(cost: bigint, protocolFeeBps: bigint | number = DEFAULT_PARAMETERS.protocolFeeBps): bigint {
  return cost + bpsUp(cost, protocolFeeBps);
}
/** Collateral of a job in stake units with the dev tokens (JobLib.collateralValue x stakePerPaymentUnit). */
export function collateralOf(cost: bigint, collateralBps: bigint | number = DEFAULT_PARAMETERS.collateralBps): bigint {
  return bpsUp(cost, collateralBps) * STAKE_PER_PAYMENT_UNIT;
}

/** JobState as bigints, named and numbered from the one list in src/protocol. */
export const JobState = Object.fromEntries(CHAIN_JOB_STATES.map((name, index) => [name, BigInt(index)])) as Record<
  ChainJobState,
  bigint
>;

/** IJobMarket.Parameter, keyed by its Solidity name ("ProtocolFeeBps"), from the one list in src/protocol. */
export type ParameterKey = Capitalize<ParameterName>;
export const Parameter = Object.fromEntries(
  PARAMETER_NAMES.map((name, index) => [name[0]!.toUpperCase() + name.slice(1), index]),
) as Record<ParameterKey, number>;
export function parameterField(key: ParameterKey): ParameterName {
  return (key[0]!.toLowerCase() + key.slice(1)) as ParameterName;
}

/** OfferField of contracts/types/Offer.sol, carried by JobMarketInvalidOffer, keyed by its Solidity name ("Gpus"). */
export const OfferField = Object.fromEntries(
  OFFER_FIELDS.map((name, index) => [name[0]!.toUpperCase() + name.slice(1), index]),
) as Record<Capitalize<(typeof OFFER_FIELDS)[number]>, number>;

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

/**
 * The one deployer (src/chain/deploy.ts) through Hardhat's in-process provider, returning ethers contracts, as
 * scripts/lib/deployGpuMesh.ts does. That Hardhat face builds its wallet client without a chain, which viem refuses
 * for a JSON-RPC account ("No chain was provided to the request"), so the tests name the chain here.
 */
async function deployGpuMesh(options: DeployOptions) {
  const { deployer, deploymentsDir: _unused, ...viemOptions } = options;
  const signer = deployer ?? (await ethers.getSigners())[0]!;
  const account = (await signer.getAddress()) as Address;
  const transport = custom(hre.network.provider);
  const chain = defineChain({
    id: Number(await hre.network.provider.request({ method: "eth_chainId" })),
    name: hre.network.name,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [] } },
  });
  const deployment = await deployWithViem({
    ...viemOptions,
    publicClient: createPublicClient({ chain, transport, pollingInterval: 10 }),
    walletClient: createWalletClient({ chain, account, transport }),
    artifactsDir: hre.config.paths.artifacts,
    network: hre.network.name,
  });
  const at = <T extends string>(name: T, address: string) => ethers.getContractAt(name, ethers.getAddress(address), signer);
  return {
    deployment,
    payment: await at(deployment.tokens.payment.dev ? "DevStablecoin" : "IERC20Metadata", deployment.tokens.payment.address),
    stake: await at(deployment.tokens.stake.dev ? "DevStakeToken" : "IERC20Metadata", deployment.tokens.stake.address),
    catalog: (await at("GpuCatalog", deployment.contracts.GpuCatalog.address)) as unknown as GpuCatalog,
    staking: (await at("ProviderStaking", deployment.contracts.ProviderStaking.address)) as unknown as ProviderStaking,
    market: (await at("JobMarket", deployment.contracts.JobMarket.address)) as unknown as JobMarket,
  };
}

/** Deploy options with the addresses as ethers gives them (plain strings). */
export type TestDeployOptions = Omit<DeployOptions, "paymentToken" | "stakeToken" | "governance" | "treasury"> & {
  paymentToken?: string;
  stakeToken?: string;
  governance?: string;
  treasury?: string;
};

export async function deploy(options: TestDeployOptions = {}) {
  const actors = await getActors();
  const deployed = await deployGpuMesh({ treasury: actors.treasury.address, ...options } as DeployOptions);
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
  return { market, staking, catalog, payment, stake, actors, marketAddress, stakingAddress, deployment: deployed.deployment };
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
  /** The most the caller agrees to pay in total; unbounded unless given. */
  maxEscrow?: bigint;
  offerId?: bigint;
}

export async function createJob(env: MarketEnv, client: HardhatEthersSigner, terms: JobTerms = {}) {
  const { gpus = 2, duration = 2 * HOUR, maxPrice = PRICE, maxEscrow = ethers.MaxUint256, offerId = env.offerId } = terms;
  const jobId = await env.market.nextJobId();
  await env.market.connect(client).createJob(offerId, gpus, duration, maxPrice, maxEscrow, SPEC_HASH);
  return jobId;
}

/** A job paid by `sponsor` for `client`: the sponsor is its payer and gets its refunds. */
export async function createJobFor(
  env: MarketEnv,
  sponsor: HardhatEthersSigner,
  client: HardhatEthersSigner,
  terms: JobTerms = {},
) {
  const { gpus = 2, duration = 2 * HOUR, maxPrice = PRICE, maxEscrow = ethers.MaxUint256, offerId = env.offerId } = terms;
  const jobId = await env.market.nextJobId();
  await env.market.connect(sponsor).createJobFor(client.address, offerId, gpus, duration, maxPrice, maxEscrow, SPEC_HASH);
  return jobId;
}

/** Creates a job and has the offer's provider accept it; returns its id and start time. */
export async function runningJob(env: MarketEnv, terms: JobTerms = {}, client: HardhatEthersSigner = env.actors.client) {
  const jobId = await createJob(env, client, terms);
  await env.market.connect(env.actors.provider).acceptJob(jobId);
  const job = await env.market.getJob(jobId);
  return { jobId, startedAt: job.startedAt, job };
}

/** The job's cost, escrow and collateral as the market computes them now. */
export async function amountsOf(env: Env, jobId: bigint) {
  const [cost, escrow, collateral] = await env.market.jobAmounts(jobId);
  return { cost, escrow, collateral };
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

export interface MoneyOutcome {
  refund: bigint;
  providerPay: bigint;
  fee: bigint;
  /** A dispute bond pulled from the client after `before` was taken. */
  bond?: bigint;
  /** Where the bond went: back to the client (default) or to the provider. */
  bondTo?: "client" | "provider";
}

/**
 * Checks refund + provider pay + fee == escrow for a job whose payer is env.actors.client, from balance deltas taken
 * after its creation and after its end (streamed claims in between count as provider pay). A dispute bond pulled in
 * between is returned to the client or paid to the provider; either way it is out of the market again. The fee and
 * credited payouts stay in the market.
 */
export async function expectMoneyIdentity(env: MarketEnv, jobId: bigint, before: Record<string, bigint>, expected: MoneyOutcome) {
  const after = await clientProviderLedger(env);
  const { escrow } = await amountsOf(env, jobId);
  expect(await env.market.payerOf(jobId)).to.equal(env.actors.client.address);
  const bond = expected.bond ?? 0n;
  const bondToProvider = expected.bondTo === "provider" ? bond : 0n;
  const refund = after.client - before.client + bondToProvider;
  const providerPay = after.provider - before.provider - bondToProvider;
  const fee = after.fees - before.fees;
  expect({ refund, providerPay, fee }).to.deep.equal({
    refund: expected.refund,
    providerPay: expected.providerPay,
    fee: expected.fee,
  });
  expect(refund + providerPay + fee).to.equal(escrow);
  const creditedDelta = after.clientCredit + after.providerCredit - before.clientCredit - before.providerCredit;
  expect(before.market - after.market).to.equal(refund + providerPay - creditedDelta);
}

// ------------------------------------------------------------------ EIP-712 usage receipts
export async function receiptDomain(env: Env) {
  const { chainId } = await ethers.provider.getNetwork();
  return { ...RECEIPT_DOMAIN, chainId, verifyingContract: env.marketAddress };
}

/** The client's signature of UsageReceipt(jobId, servedUntil) for the market. */
export async function signReceipt(env: Env, signer: HardhatEthersSigner, jobId: bigint, servedUntil: bigint | number) {
  const types = { UsageReceipt: USAGE_RECEIPT_TYPES.UsageReceipt.map((field) => ({ ...field })) };
  return signer.signTypedData(await receiptDomain(env), types, { jobId, servedUntil: BigInt(servedUntil) });
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
