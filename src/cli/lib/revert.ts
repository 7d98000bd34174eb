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
  type Hex,
} from "viem";
import { devStablecoinAbi, gpuCatalogAbi, jobMarketAbi, providerStakingAbi } from "../../chain/abis";
import { redactUrlsIn } from "../../internal/errors";
import { formatAmount, formatBps, formatDuration, formatTime, type TokenUnits } from "./units";

/** Every custom error the contracts and the tokens can raise, deduplicated by name, to decode any revert. */
export const allErrorsAbi: Abi = (() => {
  const seen = new Map<string, Abi[number]>();
  for (const abi of [jobMarketAbi, providerStakingAbi, gpuCatalogAbi, devStablecoinAbi] as readonly Abi[]) {
    for (const item of abi) if (item.type === "error" && !seen.has(item.name)) seen.set(item.name, item);
  }
  return [...seen.values()];
})();

export const JOB_STATES = [
  "None",
  "Created",
  "Running",
  "Completed",
  "Disputed",
  "Settled",
  "Resolved",
  "Cancelled",
  "Reclaimed",
] as const;
export type JobStateName = (typeof JOB_STATES)[number];

const PARAMETERS = [
  "protocolFeeBps",
  "cancelFeeBps",
  "collateralBps",
  "expirySlashBps",
  "acceptWindow",
  "disputeWindow",
  "abandonGrace",
];

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

/** A custom error as a sentence a provider or client can act on. */
export function describeRevert(errorName: string, args: readonly unknown[], context: ErrorContext): string {
  const pay = (value: unknown) => formatAmount(value as bigint, context.payment);
  const stake = (value: unknown) => formatAmount(value as bigint, context.stake);
  const tokenAmount = (value: unknown) =>
    context.token ? formatAmount(value as bigint, context.token) : `${String(value)} base units`;
  const job = (value: unknown) => `job #${String(value)}`;
  const offer = (value: unknown) => `offer #${String(value)}`;
  const time = (value: unknown) => formatTime(value as bigint);
  const model = (value: unknown) =>
    context.gpuModels?.find((m) => m.id.toLowerCase() === String(value).toLowerCase())?.name ?? String(value);
  const a = args;

  switch (errorName) {
    // ---- JobMarket
    case "JobMarketZeroAddress":
      return "an address is zero (the job market refuses the zero address)";
    case "JobMarketInvalidStakeRate":
      return `stake rate ${String(a[0])} is out of bounds (1 .. 1e24)`;
    case "JobMarketParameterOutOfBounds":
      return `parameter ${PARAMETERS[Number(a[0])] ?? String(a[0])} = ${String(a[1])} is outside its bounds ${String(a[2])} .. ${String(a[3])}`;
    case "JobMarketUnknownGpuModel":
      return `GPU model ${model(a[0])} is not listed in the catalog`;
    case "JobMarketInvalidRegion":
      return `region "${regionText(a[0] as Hex)}" is not a region code (2 to 16 characters of a-z, 0-9 and -, starting with a letter)`;
    case "JobMarketInvalidOffer":
      return "the offer's terms are invalid: 1 to 100,000 GPUs, a price above 0, 0 < minimum duration <= maximum duration <= 365 days, renewable share at most 100%, expiry at most 365 days ahead";
    case "JobMarketInsufficientStake":
      return `provider ${String(a[0])} has ${stake(a[1])} of unlocked stake; listing an offer needs at least ${stake(a[2])} (stake more with \`gpumesh provider stake\`)`;
    case "JobMarketUnknownOffer":
      return `${offer(a[0])} does not exist`;
    case "JobMarketNotOfferProvider":
      return `${offer(a[0])} belongs to another provider, not ${String(a[1])}`;
    case "JobMarketOfferClosed":
      return `${offer(a[0])} is closed`;
    case "JobMarketOfferExpired":
      return BigInt(a[0] as bigint) === 0n
        ? `the offer's expiry ${time(a[1])} is not in the future`
        : `${offer(a[0])}: expiry ${time(a[1])} has passed (or is not in the future)`;
    case "JobMarketGpusBelowLeased":
      return `cannot size the offer to ${String(a[0])} GPUs: ${String(a[1])} GPUs are leased by jobs`;
    case "JobMarketInsufficientCapacity":
      return `requested ${String(a[0])} GPUs but the offer has only ${String(a[1])} available`;
    case "JobMarketDurationOutOfRange":
      return `duration ${formatDuration(Number(a[0]))} is outside the offer's range ${formatDuration(Number(a[1]))} .. ${formatDuration(Number(a[2]))}`;
    case "JobMarketPriceAboveMax":
      return `price ${pay(a[0])} is above your maximum ${pay(a[1])} (per GPU-hour)`;
    case "JobMarketSelfDealing":
      return `${String(a[0])} cannot rent its own offer`;
    case "JobMarketUnknownJob":
      return `${job(a[0])} does not exist`;
    case "JobMarketInvalidState":
      return `${job(a[0])} is ${JOB_STATES[Number(a[1])] ?? String(a[1])}, which does not allow this`;
    case "JobMarketNotClient":
      return `only the client of ${job(a[0])} can do this, not ${String(a[1])}`;
    case "JobMarketNotProvider":
      return `only the provider of ${job(a[0])} can do this, not ${String(a[1])}`;
    case "JobMarketAcceptWindowClosed":
      return `${job(a[0])} could be accepted only until ${time(a[1])}`;
    case "JobMarketAcceptWindowOpen":
      return `${job(a[0])} can still be accepted until ${time(a[1])}; it can expire only after that`;
    case "JobMarketNothingToClaim":
      return `${job(a[0])} has nothing to claim yet`;
    case "JobMarketDisputeWindowClosed":
      return `the dispute window of ${job(a[0])} closed at ${time(a[1])}`;
    case "JobMarketDisputeWindowOpen":
      return `the dispute window of ${job(a[0])} is open until ${time(a[1])}; it can be settled after that`;
    case "JobMarketNotAbandoned":
      return `${job(a[0])} is not abandoned: it can be reclaimed only after ${time(a[1])}`;
    case "JobMarketInvalidShare":
      return `provider share ${formatBps(a[0] as bigint)} is more than 100%`;
    case "JobMarketSlashAboveCollateral":
      return `slash ${stake(a[0])} is more than the job's collateral ${stake(a[1])}`;
    case "JobMarketTransferAmountMismatch":
      return `the payment token delivered ${pay(a[1])} instead of ${pay(a[0])} (fee-on-transfer and rebasing tokens are not supported)`;
    case "JobMarketNothingToWithdraw":
      return "there is no credited balance to withdraw from the job market";

    // ---- ProviderStaking
    case "ProviderStakingNotRegistered":
      return `${String(a[0])} is not a registered provider (run \`gpumesh provider register\`)`;
    case "ProviderStakingAlreadyRegistered":
      return `${String(a[0])} is already registered as a provider`;
    case "ProviderStakingZeroAmount":
      return "the amount must be more than 0";
    case "ProviderStakingInsufficientUnlocked":
      return `${stake(a[0])} requested but only ${stake(a[1])} of stake is unlocked`;
    case "ProviderStakingNothingToWithdraw":
      return "there is nothing to withdraw";
    case "ProviderStakingStillUnbonding":
      return `the unbonding stake is ready only at ${time(a[0])}`;
    case "ProviderStakingTransferAmountMismatch":
      return `the stake token delivered ${stake(a[1])} instead of ${stake(a[0])} (fee-on-transfer and rebasing tokens are not supported)`;
    case "ProviderStakingNotMarket":
      return `only the job market can do this, not ${String(a[0])}`;
    case "ProviderStakingMarketAlreadySet":
      return `the staking contract is already bound to market ${String(a[0])}`;
    case "ProviderStakingParameterOutOfBounds":
      return `value ${String(a[0])} is outside its bounds ${String(a[1])} .. ${String(a[2])}`;
    case "ProviderStakingZeroAddress":
      return "an address is zero (the staking contract refuses the zero address)";

    // ---- GpuCatalog
    case "GpuCatalogInvalidName":
      return `GPU model name "${String(a[0])}" is invalid (1 to 32 characters of A-Z, 0-9 and -)`;
    case "GpuCatalogInvalidVram":
      return `VRAM ${String(a[0])} GB is out of range`;
    case "GpuCatalogAlreadyListed":
      return `GPU model ${model(a[0])} is already listed`;
    case "GpuCatalogUnknownModel":
      return `GPU model ${model(a[0])} is not in the catalog`;

    // ---- tokens and OpenZeppelin
    case "ERC20InsufficientBalance":
      return `balance ${tokenAmount(a[1])} of ${String(a[0])} is below the ${tokenAmount(a[2])} needed`;
    case "ERC20InsufficientAllowance":
      return `allowance ${tokenAmount(a[1])} for ${String(a[0])} is below the ${tokenAmount(a[2])} needed (approve more, or use a permit)`;
    case "ERC20InvalidReceiver":
      return `the token refuses receiver ${String(a[0])}`;
    case "ERC20InvalidSender":
      return `the token refuses sender ${String(a[0])}`;
    case "ERC20InvalidApprover":
    case "ERC20InvalidSpender":
      return `the token refuses approval for ${String(a[0])}`;
    case "ERC2612ExpiredSignature":
      return `the permit signature expired at ${time(a[0])}`;
    case "ERC2612InvalidSigner":
      return `the permit was signed by ${String(a[0])}, not by the owner ${String(a[1])}`;
    case "InvalidAccountNonce":
      return `the permit nonce is stale for ${String(a[0])} (current nonce ${String(a[1])})`;
    case "ECDSAInvalidSignature":
    case "ECDSAInvalidSignatureLength":
    case "ECDSAInvalidSignatureS":
      return "the permit signature is malformed";
    case "InvalidShortString":
    case "StringTooLong":
      return "the token's name is too long for its EIP-712 domain";
    case "EnforcedPause":
      return "the contract is paused: new registrations, stakes, offers and jobs are stopped (withdrawals, refunds and settlement still work)";
    case "ExpectedPause":
      return "the contract is not paused";
    case "AccessControlUnauthorizedAccount":
      return `${String(a[0])} does not hold ${ROLES[String(a[1]).toLowerCase()] ?? `role ${String(a[1])}`}`;
    case "AccessControlBadConfirmation":
      return "a role can only be renounced by its holder";
    case "ReentrancyGuardReentrantCall":
      return "reentrant call refused";
    case "SafeERC20FailedOperation":
      return `a transfer of token ${String(a[0])} failed`;
    case "SafeCastOverflowedUintDowncast":
      return `value ${String(a[1])} does not fit in ${String(a[0])} bits`;
    case "AddressEmptyCode":
      return `there is no contract at ${String(a[0])}`;
    case "FailedCall":
      return "a call inside the transaction failed";
    case "Error":
      return `reverted: ${String(a[0])}`;
    default:
      return `reverted with ${errorName}(${a.map((arg) => String(arg)).join(", ")})`;
  }
}

function regionText(region: Hex): string {
  try {
    return hexToString(region, { size: 16 }).replace(/\0+$/, "");
  } catch {
    return region;
  }
}
