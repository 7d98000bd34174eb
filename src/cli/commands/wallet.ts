import { erc20Abi, formatEther } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { devStablecoinAbi, jobMarketAbi, providerStakingAbi } from "../../chain/abis";
import { CHAIN_OPTIONS, CHAIN_OPTIONS_HELP, WALLET_OPTIONS, WALLET_OPTIONS_HELP, requireOption, resolveChainOptions } from "../lib/args";
import { parseOrHelp, type Command, type Subcommand } from "../lib/command";
import { createChainContext, createSignerContext } from "../lib/context";
import { CliError } from "../lib/errors";
import { createOutput } from "../lib/output";
import { sendContractTransaction } from "../lib/tx";
import { formatAmount, parseAmount } from "../../protocol/units";
import { accountFromEnv, loadWallet, readNewPassword, writeKeystore } from "../lib/wallet";


const newHelp = `usage: gpumesh wallet new --keystore FILE [--json]
Creates a new key and writes it to an encrypted JSON keystore (scrypt). The password is asked twice on a terminal,
or taken from GPUMESH_PASSWORD (at least 8 characters).`;

const importHelp = `usage: gpumesh wallet import --keystore FILE [--account-index N] [--json]
Encrypts the key of GPUMESH_PRIVATE_KEY (or account N of GPUMESH_MNEMONIC) into a new keystore file.
The password is asked twice on a terminal, or taken from GPUMESH_PASSWORD.`;

const addressHelp = [
  "usage: gpumesh wallet address [--keystore FILE] [--account-index N] [--json]",
  "Prints the address of the wallet the other commands would sign with.",
  ...WALLET_OPTIONS_HELP,
].join("\n");

const balanceHelp = [
  "usage: gpumesh wallet balance [--address ADDRESS | wallet options] [options]",
  "Prints native, payment-token and stake-token balances, and credited balances waiting for withdrawal.",
  ...CHAIN_OPTIONS_HELP,
  ...WALLET_OPTIONS_HELP,
].join("\n");

const faucetHelp = [
  "usage: gpumesh wallet faucet [--payment AMOUNT] [--stake AMOUNT] [options]",
  "Mints dev tokens (only deployments with dev tokens) to the wallet: default 10000 of the payment token and",
  "1000 of the stake token.",
  ...CHAIN_OPTIONS_HELP,
  ...WALLET_OPTIONS_HELP,
].join("\n");

const subcommands: Record<string, Subcommand> = {
  new: {
    summary: "create a key in a new encrypted keystore",
    help: newHelp,
    async run(argv) {
      const parsed = parseOrHelp(argv, { keystore: { type: "string" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } }, newHelp);
      if (!parsed) return 0;
      const file = requireOption(parsed.values.keystore, "--keystore");
      const password = await readNewPassword();
      const privateKey = generatePrivateKey();
      await writeKeystore(file, privateKey, password);
      const { address } = privateKeyToAccount(privateKey);
      const out = createOutput(Boolean(parsed.values.json));
      out.line(`address  ${address}`);
      out.line(`keystore ${file}`);
      out.result({ address, keystore: file });
    },
  },
  import: {
    summary: "encrypt GPUMESH_PRIVATE_KEY or a GPUMESH_MNEMONIC account into a keystore",
    help: importHelp,
    async run(argv) {
      const parsed = parseOrHelp(
        argv,
        { ...WALLET_OPTIONS, json: { type: "boolean" }, help: { type: "boolean", short: "h" } },
        importHelp,
      );
      if (!parsed) return 0;
      const file = requireOption(parsed.values.keystore, "--keystore");
      const { account, source } = accountFromEnv({ accountIndex: parsed.values["account-index"] });
      const privateKey = await exportKey(source, parsed.values["account-index"]);
      const password = await readNewPassword();
      await writeKeystore(file, privateKey, password);
      const out = createOutput(Boolean(parsed.values.json));
      out.line(`address  ${account.address} (from ${source})`);
      out.line(`keystore ${file}`);
      out.result({ address: account.address, keystore: file, source });
    },
  },
  address: {
    summary: "print the wallet's address",
    help: addressHelp,
    async run(argv) {
      const parsed = parseOrHelp(argv, { ...WALLET_OPTIONS, json: { type: "boolean" }, help: { type: "boolean", short: "h" } }, addressHelp);
      if (!parsed) return 0;
      const { account, source } = await loadWallet({ keystore: parsed.values.keystore, accountIndex: parsed.values["account-index"] });
      const out = createOutput(Boolean(parsed.values.json));
      out.line(account.address);
      out.result({ address: account.address, source });
    },
  },
  balance: {
    summary: "native, payment and stake token balances, and credits to withdraw",
    help: balanceHelp,
    async run(argv) {
      const parsed = parseOrHelp(argv, { ...CHAIN_OPTIONS, ...WALLET_OPTIONS, address: { type: "string" } }, balanceHelp);
      if (!parsed) return 0;
      const { values } = parsed;
      const context = await createChainContext(resolveChainOptions(values));
      let address = values.address as `0x${string}` | undefined;
      if (address && !/^0x[0-9a-fA-F]{40}$/.test(address)) throw new CliError(`--address: "${address}" is not an address`);
      if (!address) address = (await loadWallet({ keystore: values.keystore, accountIndex: values["account-index"] })).account.address;
      const read = context.publicClient;
      const [native, payment, stake, marketCredit, stakingCredit] = await Promise.all([
        read.getBalance({ address }),
        read.readContract({ address: context.payment.address, abi: erc20Abi, functionName: "balanceOf", args: [address] }),
        read.readContract({ address: context.stake.address, abi: erc20Abi, functionName: "balanceOf", args: [address] }),
        read.readContract({ address: context.market, abi: jobMarketAbi, functionName: "balanceOf", args: [address] }),
        read.readContract({ address: context.staking, abi: providerStakingAbi, functionName: "credit", args: [address] }),
      ]);
      const out = createOutput(Boolean(values.json));
      out.line(`address          ${address}`);
      out.line(`native           ${formatEther(native)} ETH`);
      out.line(`payment token    ${formatAmount(payment, context.payment)}`);
      out.line(`stake token      ${formatAmount(stake, context.stake)}`);
      out.line(`market credit    ${formatAmount(marketCredit, context.payment)}`);
      out.line(`staking credit   ${formatAmount(stakingCredit, context.stake)}`);
      out.result({ address, native, payment, stake, marketCredit, stakingCredit });
    },
  },
  faucet: {
    summary: "mint dev tokens to the wallet (local chains only)",
    help: faucetHelp,
    async run(argv) {
      const parsed = parseOrHelp(
        argv,
        { ...CHAIN_OPTIONS, ...WALLET_OPTIONS, payment: { type: "string" }, stake: { type: "string" } },
        faucetHelp,
      );
      if (!parsed) return 0;
      const { values } = parsed;
      const context = await createSignerContext(resolveChainOptions(values), {
        keystore: values.keystore,
        accountIndex: values["account-index"],
      });
      const both = values.payment === undefined && values.stake === undefined;
      const mints = [
        { token: context.payment, amount: values.payment ?? (both ? "10000" : undefined), flag: "--payment" },
        { token: context.stake, amount: values.stake ?? (both ? "1000" : undefined), flag: "--stake" },
      ].filter((mint) => mint.amount !== undefined);
      const out = createOutput(Boolean(values.json));
      const minted: Record<string, bigint> = {};
      for (const mint of mints) {
        if (!mint.token.dev) throw new CliError(`${mint.token.symbol} is not a dev token: it has no faucet`);
        const amount = parseAmount(mint.amount!, mint.token, mint.flag);
        await sendContractTransaction(context, out, {
          label: `mint ${formatAmount(amount, mint.token)}`,
          address: mint.token.address,
          abi: devStablecoinAbi,
          functionName: "mint",
          args: [context.account.address, amount],
        });
        minted[mint.token.symbol] = amount;
      }
      out.result({ address: context.account.address, minted });
    },
  },
};

/** The raw key behind an env wallet, to encrypt it. */
async function exportKey(source: string, accountIndex: string | undefined): Promise<`0x${string}`> {
  if (source === "GPUMESH_PRIVATE_KEY") {
    const key = process.env.GPUMESH_PRIVATE_KEY!.trim();
    return (key.startsWith("0x") ? key : `0x${key}`).toLowerCase() as `0x${string}`;
  }
  const { mnemonicToAccount } = await import("viem/accounts");
  const { toHex } = await import("viem");
  const account = mnemonicToAccount(process.env.GPUMESH_MNEMONIC!.trim(), { addressIndex: Number(accountIndex ?? 0) });
  const key = account.getHdKey().privateKey;
  if (!key) throw new CliError("cannot derive the private key of the mnemonic account");
  return toHex(key);
}

export const command: Command = { help: "", subcommands };
