import {
  BaseError,
  ContractFunctionRevertedError,
  HttpRequestError,
  InsufficientFundsError,
  TimeoutError,
  decodeErrorResult,
  hexToString,
  keccak256,
  toHex,
  type Abi,
  type ContractErrorArgs,
  type Hex,
} from "viem";
import { devStablecoinAbi, gpuCatalogAbi, jobMarketAbi, providerStakingAbi } from "../../chain/abis";
import { redactUrlsIn } from "../../internal/errors";
import { CHAIN_JOB_STATES, OFFER_FIELDS, PARAMETER_NAMES } from "../../protocol";
import { formatAmount, formatBps, formatDuration, formatTime, type TokenUnits } from "../../protocol/units";

/** Every custom error the contracts and the tokens can raise, deduplicated by name, to decode any revert. */
export const allErrorsAbi: Abi = (() => {
  const seen = new Map<string, Abi[number]>();
  for (const abi of [jobMarketAbi, providerStakingAbi, gpuCatalogAbi, devStablecoinAbi] as readonly Abi[]) {
    for (const item of abi) if (item.type === "error" && !seen.has(item.name)) seen.set(item.name, item);
  }
  return [...seen.values()];
})();

const ROLES: Record<string, string> = {
  [`0x${"0".repeat(64)}`]: "DEFAULT_ADMIN_ROLE (governance)",
  [keccak256(toHex("PAUSER_ROLE"))]: "PAUSER_ROLE",
  [keccak256(toHex("ARBITER_ROLE"))]: "ARBITER_ROLE",
};

/** What a message needs to print amounts and names: the deployment's tokens and GPU models. */
export interface ErrorContext {
  payment: TokenUnits;
  stake: TokenUnits;
  gpuModels?: ReadonlyArray<{ id: string; name: string }>;
  /** The token the failed call moves, for ERC-20 errors raised inside a pull. */
  token?: TokenUnits;
  rpcUrl?: string;
}

/** A revert decoded against every known error: its name and arguments, or null when it is not a revert. */
export function findRevert(error: unknown): { errorName: string; args: readonly unknown[] } | null {
  if (!(error instanceof BaseError)) return null;
  const reverted = error.walk((cause) => cause instanceof ContractFunctionRevertedError) as
    | ContractFunctionRevertedError
    | null;
  if (reverted?.data?.errorName) return { errorName: reverted.data.errorName, args: reverted.data.args ?? [] };
  const raw = (reverted?.raw ?? findRawRevertData(error)) as Hex | undefined;
  if (raw && raw.length >= 10) {
    try {
      const decoded = decodeErrorResult({ abi: allErrorsAbi, data: raw });
      return { errorName: decoded.errorName, args: (decoded.args ?? []) as readonly unknown[] };
    } catch {
      return { errorName: `unknown error ${raw.slice(0, 10)}`, args: [] };
    }
  }
  if (reverted?.reason) return { errorName: "Error", args: [reverted.reason] };
  return null;
}

function findRawRevertData(error: BaseError): Hex | undefined {
  let found: Hex | undefined;
  error.walk((cause) => {
    const data = (cause as { data?: unknown }).data;
    if (typeof data === "string" && /^0x[0-9a-fA-F]{8,}$/.test(data)) found = data as Hex;
    else if (data && typeof data === "object" && typeof (data as { data?: unknown }).data === "string") {
      found = (data as { data: Hex }).data;
    }
    return false;
  });
  return found;
}

/** One sentence for any failure of a chain call: decoded custom errors, unreachable nodes, missing gas money. */
export function describeError(error: unknown, context: ErrorContext): string {
  const revert = findRevert(error);
  if (revert) return describeRevert(revert.errorName, revert.args, context);
  if (error instanceof BaseError) {
    if (error.walk((cause) => cause instanceof InsufficientFundsError)) {
      return "the account has not enough native currency (ETH) to pay for gas";
    }
    if (error.walk((cause) => cause instanceof HttpRequestError || cause instanceof TimeoutError)) {
      const url = (error.walk((cause) => cause instanceof HttpRequestError) as HttpRequestError | null)?.url ?? context.rpcUrl;
      return `cannot reach the JSON-RPC node${url ? ` at ${redactUrlsIn(url)}` : ""}: is it running? (set --rpc or GPUMESH_RPC_URL)`;
    }
    return redactUrlsIn(error.shortMessage);
  }
  const message = error instanceof Error ? error.message : String(error);
  if (/fetch failed|ECONNREFUSED/.test(message)) {
    return `cannot reach the JSON-RPC node${context.rpcUrl ? ` at ${redactUrlsIn(context.rpcUrl)}` : ""}: is it running?`;
  }
  return redactUrlsIn(message);
}

/** The custom errors of the four ABIs, each with its arguments typed from the `as const` ABI. */
type AbiErrorItem = Extract<
  (typeof jobMarketAbi | typeof providerStakingAbi | typeof gpuCatalogAbi | typeof devStablecoinAbi)[number],
  { type: "error" }
>;
export type ContractErrorName = AbiErrorItem["name"];
type ErrorArgs<Name extends ContractErrorName> = ContractErrorArgs<readonly AbiErrorItem[], Name>;

/** How a sentence prints the values an error carries, in the deployment's units and names. */
interface Formatters {
  pay(value: bigint): string;
  stake(value: bigint): string;
  /** An amount of the token the failed call moved (payment or stake), or base units when unknown. */
  token(value: bigint): string;
  job(id: bigint): string;
  offer(id: bigint): string;
  time(unixSeconds: bigint | number): string;
  duration(seconds: bigint | number): string;
  bps(value: bigint | number): string;
  model(id: string): string;
  region(code: Hex): string;
  state(value: number): string;
  parameter(value: number): string;
  offerField(field: number, value: bigint): string;
  role(id: string): string;
}

/**
 * One sentence per custom error of JobMarket, ProviderStaking, GpuCatalog and the tokens, carrying the values that
 * broke the rule. A revert inside staking (collateral at createJob) bubbles up through the market call, so every
 * call is decoded against all of them. The type makes a missing error a compile error; test/indexer/abis.test.ts
 * checks the same at run time against the ABIs.
 */
export const REVERT_SENTENCES: { [Name in ContractErrorName]: (args: ErrorArgs<Name>, f: Formatters) => string } = {
  // ---- JobMarket
  JobMarketZeroAddress: () => "an address is zero (the job market refuses the zero address)",
  JobMarketInvalidStakeRate: ([rate]) => `stake rate ${rate} is out of bounds (1 .. 1e24)`,
  JobMarketParameterOutOfBounds: ([parameter, value, min, max], f) =>
    `parameter ${f.parameter(parameter)} = ${value} is outside its bounds ${min} .. ${max}`,
  JobMarketUnknownGpuModel: ([model], f) => `GPU model ${f.model(model)} is not listed in the catalog`,
  JobMarketInvalidRegion: ([region], f) =>
    `region "${f.region(region)}" is not a region code (2 to 16 characters of a-z, 0-9 and -, starting with a letter)`,
  JobMarketInvalidOffer: ([field, value, min, max], f) =>
    `the offer's ${OFFER_FIELDS[field] ?? `field ${field}`} is ${f.offerField(field, value)}, outside ${f.offerField(field, min)} .. ${f.offerField(field, max)}`,
  JobMarketInsufficientStake: ([provider, unlocked, minStake], f) =>
    `provider ${provider} has ${f.stake(unlocked)} of unlocked stake; listing an offer needs at least ${f.stake(minStake)} (stake more with \`gpumesh provider stake\`)`,
  JobMarketOfferNotBacked: ([provider, unlocked, required], f) =>
    `provider ${provider} has ${f.stake(unlocked)} of unlocked stake but the offer's free GPUs at its minimum duration need ${f.stake(required)} of collateral (stake more, list fewer GPUs or a shorter minimum duration)`,
  JobMarketUnknownOffer: ([offerId], f) => `${f.offer(offerId)} does not exist`,
  JobMarketNotOfferProvider: ([offerId, caller], f) => `${f.offer(offerId)} belongs to another provider, not ${caller}`,
  JobMarketOfferClosed: ([offerId], f) => `${f.offer(offerId)} is closed`,
  JobMarketOfferExpired: ([offerId, expiresAt], f) =>
    offerId === 0n
      ? `the offer's expiry ${f.time(expiresAt)} is not in the future`
      : `${f.offer(offerId)}: expiry ${f.time(expiresAt)} has passed (or is not in the future)`,
  JobMarketGpusBelowLeased: ([gpus, leased]) => `cannot size the offer to ${gpus} GPUs: ${leased} GPUs are leased by jobs`,
  JobMarketInsufficientCapacity: ([requested, available]) =>
    `requested ${requested} GPUs but the offer has only ${available} available`,
  JobMarketDurationOutOfRange: ([duration, min, max], f) =>
    `duration ${f.duration(duration)} is outside the offer's range ${f.duration(min)} .. ${f.duration(max)}`,
  JobMarketPriceAboveMax: ([price, maxPrice], f) => `price ${f.pay(price)} is above your maximum ${f.pay(maxPrice)} (per GPU-hour)`,
  JobMarketEscrowAboveMax: ([escrow, maxEscrow], f) =>
    `the escrow would be ${f.pay(escrow)}, above your maximum ${f.pay(maxEscrow)} (the price or the fee changed: quote again, or raise --max-escrow)`,
  JobMarketSelfDealing: ([account]) => `${account} cannot rent its own offer`,
  JobMarketUnknownJob: ([jobId], f) => `${f.job(jobId)} does not exist`,
  JobMarketInvalidState: ([jobId, state], f) => `${f.job(jobId)} is ${f.state(state)}, which does not allow this`,
  JobMarketNotClient: ([jobId, caller], f) => `only the client of ${f.job(jobId)} can do this, not ${caller}`,
  JobMarketNotPayer: ([jobId, caller], f) => `only the payer of ${f.job(jobId)} (who funded it) can do this, not ${caller}`,
  JobMarketNotProvider: ([jobId, caller], f) => `only the provider of ${f.job(jobId)} can do this, not ${caller}`,
  JobMarketAcceptWindowClosed: ([jobId, deadline], f) => `${f.job(jobId)} could be accepted or declined only until ${f.time(deadline)}`,
  JobMarketAcceptWindowOpen: ([jobId, deadline], f) =>
    `${f.job(jobId)} can still be accepted until ${f.time(deadline)}; it can expire only after that`,
  JobMarketNothingToClaim: ([jobId], f) => `${f.job(jobId)} has nothing to claim yet`,
  JobMarketInvalidReceipt: ([jobId, client], f) =>
    `the usage receipt for ${f.job(jobId)} is not signed by its client ${client} (or signs other values)`,
  JobMarketJobEnded: ([jobId, endsAt], f) => `${f.job(jobId)} ran until ${f.time(endsAt)}: it can no longer be extended`,
  JobMarketProviderNotDark: ([jobId, lastLifeAt, darkAt], f) =>
    `the provider of ${f.job(jobId)} is not dark: its last sign of life was at ${f.time(lastLifeAt)}; it can be reported only after ${f.time(darkAt)}, and only before the job's end`,
  JobMarketDisputeWindowClosed: ([jobId, deadline], f) => `the dispute window of ${f.job(jobId)} closed at ${f.time(deadline)}`,
  JobMarketDisputeWindowOpen: ([jobId, deadline], f) =>
    `the dispute window of ${f.job(jobId)} is open until ${f.time(deadline)}; it can be settled after that`,
  JobMarketResolveWindowClosed: ([jobId, deadline], f) =>
    `the arbiter could resolve the dispute of ${f.job(jobId)} only until ${f.time(deadline)}; anyone can now finalize it`,
  JobMarketResolveWindowOpen: ([jobId, deadline], f) =>
    `the arbiter can resolve the dispute of ${f.job(jobId)} until ${f.time(deadline)}; it can be finalized only after that`,
  JobMarketNotAbandoned: ([jobId, reclaimableAt], f) =>
    `${f.job(jobId)} is not abandoned: it can be reclaimed only after ${f.time(reclaimableAt)}`,
  JobMarketInvalidShare: ([shareBps], f) => `provider share ${f.bps(shareBps)} is more than 100%`,
  JobMarketSlashAboveCollateral: ([slash, available], f) =>
    `slash ${f.stake(slash)} is more than the ${f.stake(available)} of the job's collateral left after taking back unearned streamed pay`,
  JobMarketTransferAmountMismatch: ([expected, received], f) =>
    `the payment token delivered ${f.pay(received)} instead of ${f.pay(expected)} (fee-on-transfer and rebasing tokens are not supported)`,
  JobMarketTermsExhausted: () => "governance has used up the parameter snapshots (2^24 - 1 changes): no parameter can change any more",
  JobMarketNothingToWithdraw: () => "there is no credited balance to withdraw from the job market",

  // ---- ProviderStaking
  ProviderStakingNotRegistered: ([provider]) => `${provider} is not a registered provider (run \`gpumesh provider register\`)`,
  ProviderStakingAlreadyRegistered: ([provider]) => `${provider} is already registered as a provider`,
  ProviderStakingZeroAmount: () => "the amount must be more than 0",
  ProviderStakingInsufficientUnlocked: ([requested, unlocked], f) =>
    `${f.stake(requested)} requested but only ${f.stake(unlocked)} of stake is unlocked`,
  ProviderStakingNothingToWithdraw: () => "there is nothing to withdraw",
  ProviderStakingStillUnbonding: ([readyAt], f) => `the unbonding stake is ready only at ${f.time(readyAt)}`,
  ProviderStakingInsufficientCollateral: ([provider, required, unlocked], f) =>
    `provider ${provider} cannot back this job: it needs ${f.stake(required)} of collateral but has only ${f.stake(unlocked)} of unlocked stake (rent fewer GPUs or a shorter time, or another offer)`,
  ProviderStakingSlashAboveCollateral: ([slash, collateral], f) =>
    `slash ${f.stake(slash)} is more than the job's collateral ${f.stake(collateral)}`,
  ProviderStakingTransferAmountMismatch: ([expected, received], f) =>
    `the stake token delivered ${f.stake(received)} instead of ${f.stake(expected)} (fee-on-transfer and rebasing tokens are not supported)`,
  ProviderStakingNotMarket: ([caller]) => `only the job market can do this, not ${caller}`,
  ProviderStakingMarketAlreadySet: ([market]) => `the staking contract is already bound to market ${market}`,
  ProviderStakingParameterOutOfBounds: ([value, min, max]) => `value ${value} is outside its bounds ${min} .. ${max}`,
  ProviderStakingZeroAddress: () => "an address is zero (the staking contract refuses the zero address)",

  // ---- GpuCatalog
  GpuCatalogInvalidName: ([name]) => `GPU model name "${name}" is invalid (1 to 32 characters of A-Z, 0-9 and -)`,
  GpuCatalogInvalidVram: ([vramGb]) => `VRAM ${vramGb} GB is out of range`,
  GpuCatalogAlreadyListed: ([model], f) => `GPU model ${f.model(model)} is already listed`,
  GpuCatalogUnknownModel: ([model], f) => `GPU model ${f.model(model)} is not in the catalog`,

  // ---- tokens and OpenZeppelin
  ERC20InsufficientBalance: ([sender, balance, needed], f) =>
    `balance ${f.token(balance)} of ${sender} is below the ${f.token(needed)} needed`,
  ERC20InsufficientAllowance: ([spender, allowance, needed], f) =>
    `allowance ${f.token(allowance)} for ${spender} is below the ${f.token(needed)} needed (approve more, or use a permit)`,
  ERC20InvalidReceiver: ([receiver]) => `the token refuses receiver ${receiver}`,
  ERC20InvalidSender: ([sender]) => `the token refuses sender ${sender}`,
  ERC20InvalidApprover: ([approver]) => `the token refuses approval by ${approver}`,
  ERC20InvalidSpender: ([spender]) => `the token refuses approval for ${spender}`,
  ERC2612ExpiredSignature: ([deadline], f) => `the permit signature expired at ${f.time(deadline)}`,
  ERC2612InvalidSigner: ([signer, owner]) => `the permit was signed by ${signer}, not by the owner ${owner}`,
  InvalidAccountNonce: ([account, nonce]) => `the permit nonce is stale for ${account} (current nonce ${nonce})`,
  ECDSAInvalidSignature: () => "the signature is malformed",
  ECDSAInvalidSignatureLength: ([length]) => `the signature is malformed (${length} bytes instead of 65)`,
  ECDSAInvalidSignatureS: ([s]) => `the signature is malformed (s value ${s} is too high)`,
  InvalidShortString: () => "a name is too long for an EIP-712 domain",
  StringTooLong: ([text]) => `"${text}" is too long for an EIP-712 domain`,
  EnforcedPause: () =>
    "the contract is paused: new registrations, stakes, offers, jobs and extensions are stopped (acceptance, claims, withdrawals, refunds, dark reports and settlement still work)",
  ExpectedPause: () => "the contract is not paused",
  AccessControlUnauthorizedAccount: ([account, role], f) => `${account} does not hold ${f.role(role)}`,
  AccessControlBadConfirmation: () => "a role can only be renounced by its holder",
  ReentrancyGuardReentrantCall: () => "reentrant call refused",
  SafeERC20FailedOperation: ([token]) => `a transfer of token ${token} failed`,
  SafeCastOverflowedUintDowncast: ([bits, value]) => `value ${value} does not fit in ${bits} bits`,
  AddressEmptyCode: ([target]) => `there is no contract at ${target}`,
  FailedCall: () => "a call inside the transaction failed",
};

/** A custom error as a sentence a provider or client can act on. */
export function describeRevert(errorName: string, args: readonly unknown[], context: ErrorContext): string {
  if (errorName === "Error") return `reverted: ${String(args[0])}`;
  const sentence = (REVERT_SENTENCES as unknown as Record<string, ((args: readonly unknown[], f: Formatters) => string) | undefined>)[errorName];
  if (!sentence) return `reverted with ${errorName}(${args.map((arg) => String(arg)).join(", ")})`;
  return sentence(args, formatters(context));
}

function formatters(context: ErrorContext): Formatters {
  const pay = (value: bigint) => formatAmount(value, context.payment);
  const duration = (seconds: bigint | number) => formatDuration(Number(seconds));
  return {
    pay,
    stake: (value) => formatAmount(value, context.stake),
    token: (value) => (context.token ? formatAmount(value, context.token) : `${value} base units`),
    job: (id) => `job #${id}`,
    offer: (id) => `offer #${id}`,
    time: (unixSeconds) => formatTime(unixSeconds),
    duration,
    bps: (value) => formatBps(value),
    model: (id) => context.gpuModels?.find((m) => m.id.toLowerCase() === id.toLowerCase())?.name ?? id,
    region: (code) => regionText(code),
    state: (value) => CHAIN_JOB_STATES[value] ?? `state ${value}`,
    parameter: (value) => PARAMETER_NAMES[value] ?? `parameter ${value}`,
    offerField(field, value) {
      switch (OFFER_FIELDS[field]) {
        case "pricePerGpuHour":
          return `${pay(value)} per GPU-hour`;
        case "minDuration":
        case "maxDuration":
          return duration(value);
        case "renewableBps":
          return formatBps(value);
        case "expiresAt":
          return formatTime(value);
        default:
          return String(value);
      }
    },
    role: (id) => ROLES[id.toLowerCase()] ?? `role ${id}`,
  };
}

function regionText(region: Hex): string {
  try {
    return hexToString(region, { size: 16 }).replace(/\0+$/, "");
  } catch {
    return region;
  }
}
