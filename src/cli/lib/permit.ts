import { domainSeparator, encodeFunctionData, erc20Abi, parseSignature, type Abi, type Address, type Hex, type TypedDataDomain } from "viem";
import { jobMarketAbi } from "../../chain/abis";
import type { TokenRecord } from "../../chain/deployment";
import type { SignerContext } from "./context";
import { CliError } from "./errors";
import type { Output } from "./output";
import { describeRevert } from "./revert";
import { sendContractTransaction, type SentTransaction } from "./tx";

/** viem's erc20Abi plus the EIP-2612 and EIP-5267 fragments. */
export const erc20PermitAbi = [
  ...erc20Abi,
  {
    type: "function",
    name: "permit",
    stateMutability: "nonpayable",
    inputs: [
      { name: "owner", type: "address" },
      { name: "spender", type: "address" },
      { name: "value", type: "uint256" },
      { name: "deadline", type: "uint256" },
      { name: "v", type: "uint8" },
      { name: "r", type: "bytes32" },
      { name: "s", type: "bytes32" },
    ],
    outputs: [],
  },
  {
    type: "function",
    name: "nonces",
    stateMutability: "view",
    inputs: [{ name: "owner", type: "address" }],
    outputs: [{ name: "", type: "uint256" }],
  },
  {
    type: "function",
    name: "DOMAIN_SEPARATOR",
    stateMutability: "view",
    inputs: [],
    outputs: [{ name: "", type: "bytes32" }],
  },
  {
    type: "function",
    name: "version",
    stateMutability: "view",
    inputs: [],
    outputs: [{ name: "", type: "string" }],
  },
] as const;

/** The PermitSignature struct of the contracts. */
export interface PermitSignature {
  value: bigint;
  deadline: bigint;
  v: number;
  r: Hex;
  s: Hex;
}

/** The EIP-712 types of an EIP-2612 permit. */
export const PERMIT_TYPES = {
  Permit: [
    { name: "owner", type: "address" },
    { name: "spender", type: "address" },
    { name: "value", type: "uint256" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
} as const;

/**
 * The token's EIP-712 domain when it supports EIP-2612, else null. The domain comes from EIP-5267 when the token
 * has it, else from name() and version "1", and must hash to the token's DOMAIN_SEPARATOR: a signature over any
 * other domain would be refused on-chain.
 */
export async function permitDomain(context: SignerContext, token: Address): Promise<TypedDataDomain | null> {
  const read = <T>(functionName: "DOMAIN_SEPARATOR" | "name" | "version", fallback?: T) =>
    context.publicClient
      .readContract({ address: token, abi: erc20PermitAbi, functionName })
      .catch(() => fallback) as Promise<T | undefined>;
  try {
    const [separator, nonce] = await Promise.all([
      read<Hex>("DOMAIN_SEPARATOR"),
      context.publicClient.readContract({ address: token, abi: erc20PermitAbi, functionName: "nonces", args: [context.account.address] }),
    ]);
    if (!separator || nonce === undefined) return null;
    let domain: TypedDataDomain;
    try {
      const eip712 = await context.publicClient.getEip712Domain({ address: token });
      // viem fills every field; only those flagged in `fields` (EIP-5267 bitmask) are part of the domain.
      const fields = Number(eip712.fields);
      const { name, version, chainId, verifyingContract, salt } = eip712.domain;
      domain = {
        ...(fields & 0x01 ? { name } : {}),
        ...(fields & 0x02 ? { version } : {}),
        ...(fields & 0x04 ? { chainId } : {}),
        ...(fields & 0x08 ? { verifyingContract } : {}),
        ...(fields & 0x10 ? { salt } : {}),
      };
    } catch {
      const [name, version] = await Promise.all([read<string>("name"), read<string>("version", "1")]);
      if (name === undefined) return null;
      domain = { name, version: version ?? "1", chainId: context.chain.id, verifyingContract: token };
    }
    const computed = domainSeparator({ domain });
    return computed.toLowerCase() === separator.toLowerCase() ? domain : null;
  } catch {
    return null;
  }
}

/** Signs an EIP-2612 permit for `spender` to pull `value`, valid for an hour of chain time. */
export async function signPermit(
  context: SignerContext,
  token: Address,
  domain: TypedDataDomain,
  spender: Address,
  value: bigint,
): Promise<PermitSignature> {
  const owner = context.account.address;
  const [nonce, now] = await Promise.all([
    context.publicClient.readContract({ address: token, abi: erc20PermitAbi, functionName: "nonces", args: [owner] }),
    context.now(),
  ]);
  const deadline = now + 3600n;
  const signature = await context.account.signTypedData({
    domain,
    types: PERMIT_TYPES,
    primaryType: "Permit",
    message: { owner, spender, value, nonce, deadline },
  });
  const { r, s, v, yParity } = parseSignature(signature);
  return { value, deadline, v: Number(v ?? BigInt(yParity + 27)), r, s };
}

/**
 * Lets `spender` pull `amount` of `token`: a permit signature when the token supports it (and `usePermit`), so the
 * pull and its approval are one transaction; otherwise an approve transaction when the allowance is short.
 * Returns the permit, or null when the plain function (after approve) must be called.
 */
export async function authorizePull(
  context: SignerContext,
  out: Output,
  token: TokenRecord,
  spender: Address,
  amount: bigint,
  usePermit: boolean,
): Promise<PermitSignature | null> {
  if (usePermit) {
    const domain = await permitDomain(context, token.address);
    if (domain) return signPermit(context, token.address, domain, spender, amount);
  }
  const allowance = await context.publicClient.readContract({
    address: token.address,
    abi: erc20Abi,
    functionName: "allowance",
    args: [context.account.address, spender],
  });
  if (allowance < amount) {
    await sendContractTransaction(context, out, {
      label: `approve ${token.symbol}`,
      address: token.address,
      abi: erc20PermitAbi,
      functionName: "approve",
      args: [spender, amount],
      token,
    });
  }
  return null;
}

/**
 * Sends a JobMarket call that pulls `amount` of the payment token from the wallet (extendJob, disputeJob): with a
 * permit, `multicall([selfPermit(permit), call])` in one transaction; else approve when the allowance is short, then
 * the call. The balance is checked first, so a short wallet fails in plain words before anything is signed.
 */
export async function sendMarketPull(
  context: SignerContext,
  out: Output,
  call: { label: string; functionName: "extendJob" | "disputeJob"; args: readonly unknown[] },
  amount: bigint,
  usePermit: boolean,
): Promise<SentTransaction> {
  if (amount > 0n) {
    const balance = await context.publicClient.readContract({
      address: context.payment.address,
      abi: erc20Abi,
      functionName: "balanceOf",
      args: [context.account.address],
    });
    if (balance < amount) {
      throw new CliError(
        describeRevert("ERC20InsufficientBalance", [context.account.address, balance, amount], { ...context.errorContext, token: context.payment }),
      );
    }
  }
  const permit = amount > 0n ? await authorizePull(context, out, context.payment, context.market, amount, usePermit) : null;
  if (!permit) {
    return sendContractTransaction(context, out, { ...call, address: context.market, abi: jobMarketAbi as Abi, token: context.payment });
  }
  const calls = [
    encodeFunctionData({ abi: jobMarketAbi, functionName: "selfPermit", args: [permit] }),
    encodeFunctionData({ abi: jobMarketAbi as Abi, functionName: call.functionName, args: call.args }),
  ];
  return sendContractTransaction(context, out, {
    label: `${call.label} with permit`,
    address: context.market,
    abi: jobMarketAbi as Abi,
    functionName: "multicall",
    args: [calls],
    token: context.payment,
  });
}
