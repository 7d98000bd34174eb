import { expect } from "chai";
import type { Browser, Page } from "playwright-core";
import { parseEventLogs } from "viem";
import { generatePrivateKey } from "viem/accounts";
import { jobMarketAbi } from "../../src/chain/abis";
import { describeRevert } from "../../src/cli/lib/revert";
import { formatAmount, formatTime } from "../../src/protocol/units";
import { MESH } from "../indexer/helpers/market";
import { seriousAxeViolations } from "./helpers/audit";
import { expectNoProblems, horizontalOverflow, launchBrowser, openPage, readmeScreenshot, screenshot, type WatchedPage } from "./helpers/browser";
import { startWebMarket, type WebMarket } from "./helpers/market";
import { injectTestWallet, TEST_WALLETS, type TestWallet } from "./helpers/wallet";

/**
 * The provider's and the client's consoles in a real browser with a test wallet (EIP-6963, signing in this process
 * with a viem local account) against a real chain: discovery by name and icon, connecting, a wrong network switched
 * in one click (the wallet is made to add the chain), register, stake with a permit, a revert told in the CLI's
 * sentence, and renting an offer (quote, permit and createJobWithPermit). The tests run in order on one page.
 */
describe("web app: provider and client consoles with a browser wallet", function () {
  let market: WebMarket;
  let browser: Browser;
  let watched: WatchedPage;
  let page: Page;
  let wallet: TestWallet;
  const payment = { symbol: "USDC", decimals: 6 };
  const stake = { symbol: "MESH", decimals: 18 };
  let createdJobId: bigint | undefined;
  let completedJobId: bigint | undefined;

  before(async function () {
    market = await startWebMarket();
    browser = await launchBrowser();
    watched = await openPage(browser, "desktop", async (context) => {
      wallet = await injectTestWallet(context, { rpcUrl: market.anvil.url, privateKey: generatePrivateKey(), startChainId: 1 });
    });
    page = watched.page;
    await market.m.testClient.setBalance({ address: wallet.address, value: 10n ** 20n });
  });

  after(async function () {
    await watched?.close();
    await browser?.close();
    await market?.stop();
  });

  afterEach(function () {
    expectNoProblems(watched);
  });

  async function txConfirmed(label: RegExp): Promise<string> {
    const status = page.getByTestId("tx-status");
    await status.and(page.locator('[data-step="confirmed"]')).getByText(label).waitFor({ timeout: 30_000 });
    return (await page.getByTestId("tx-hash").textContent())!;
  }

  it("lists every announced wallet by name and icon, connects one, and switches a wrong network in one click", async function () {
    await page.goto(`${market.url}/console/provider`);
    const choices = page.getByTestId("wallet-choices");
    for (const announced of TEST_WALLETS) await choices.getByRole("button", { name: announced.name }).waitFor();
    expect(await choices.locator("img").evaluateAll((images) => images.map((image) => (image as any).src))).to.deep.equal(TEST_WALLETS.map((w) => w.icon));
    expect(await seriousAxeViolations(page)).to.deep.equal([]);
    await screenshot(page, "provider-console-connect", "desktop");

    await choices.getByRole("button", { name: TEST_WALLETS[0]!.name }).click();
    await page.getByTestId("wrong-network").getByText("Your wallet is on chain 1").waitFor();
    await screenshot(page, "provider-console-wrong-network", "desktop");
    await page.getByRole("button", { name: /Switch to GPU Mesh local/ }).click();
    await page.getByTestId("network-ok").waitFor();
    expect(wallet.chainId()).to.equal(31337);
    const added = wallet.requests.find((request) => request.method === "wallet_addEthereumChain");
    expect(added, "the wallet was asked to add the chain").to.not.equal(undefined);
    expect(added!.params[0]).to.include({ chainId: "0x7a69" }).and.to.have.deep.property("rpcUrls", [market.anvil.url]);
    expect(await page.getByTestId("wallet-connected").textContent()).to.contain(TEST_WALLETS[0]!.name);
  });

  it("registers a provider and stakes with a permit, each transaction signing, pending with its hash, then confirmed", async function () {
    await page.getByRole("button", { name: /mint 10000 MESH/ }).click();
    await txConfirmed(/mint 10000 MESH/);
    await page.getByTestId("stake-balance").getByText("10000 MESH").waitFor();

    await page.getByLabel(/Metadata URI/).fill("https://gpus.example/web-provider.json");
    // Every step the status line shows, as the user sees it (a MutationObserver in the page).
    await page.evaluate(() => {
      const scope = globalThis as any;
      scope.__txSteps = [];
      new MutationObserver(() => {
        const step = scope.document.querySelector('[data-testid="tx-status"]')?.getAttribute("data-step");
        if (step && scope.__txSteps.at(-1) !== step) scope.__txSteps.push(step);
      }).observe(scope.document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-step"] });
    });
    await page.getByRole("button", { name: "Register as a provider" }).click();
    const registerHash = await txConfirmed(/register/);
    const steps = await page.evaluate(() => (globalThis as any).__txSteps as string[]);
    expect(steps.slice(-3)).to.deep.equal(["signing", "pending", "confirmed"]);
    expect(registerHash).to.match(/^0x[0-9a-f]{64}$/);
    const receipt = await market.m.publicClient.getTransactionReceipt({ hash: registerHash as `0x${string}` });
    expect(receipt.status).to.equal("success");
    expect(receipt.from.toLowerCase()).to.equal(wallet.address.toLowerCase());

    await page.getByLabel(/Amount to stake/).fill("150.5");
    await page.getByRole("button", { name: "Stake", exact: true }).click();
    await txConfirmed(/stake with permit/);
    await page.getByTestId("staked").getByText("150.5 MESH").waitFor();
    expect(wallet.requests.some((request) => request.method === "eth_signTypedData_v4"), "the permit was signed in the wallet").to.equal(true);
    const onChain = await market.m.read<{ staked: bigint; registered: boolean }>("staking", "account", [wallet.address]);
    expect(onChain.registered).to.equal(true);
    expect(onChain.staked).to.equal(150_500_000_000_000_000_000n);
    expect(await horizontalOverflow(page)).to.equal(0);
    await screenshot(page, "provider-console", "desktop");
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await horizontalOverflow(page)).to.equal(0);
    await screenshot(page, "provider-console", "phone");
    await page.setViewportSize({ width: 1280, height: 900 });

    // The indexer sees the new provider: its public page shows the stake.
    await market.caughtUp();
    await page.getByRole("link", { name: "provider page" }).click();
    await page.getByTestId("provider-facts").getByText("150.5 MESH").first().waitFor();
    await page.goBack();
    await page.getByTestId("staked").waitFor();
  });

  it("tells a revert in the same sentence the CLI prints", async function () {
    const balance = 10_000n * MESH - 150_500_000_000_000_000_000n;
    await page.getByLabel(/Amount to stake/).fill("20000");
    await page.getByRole("button", { name: "Stake", exact: true }).click();
    const status = page.getByTestId("tx-status").and(page.locator('[data-step="failed"]'));
    await status.waitFor({ timeout: 30_000 });
    const expected = describeRevert("ERC20InsufficientBalance", [wallet.address, balance, 20_000n * MESH], { payment, stake, token: stake });
    expect(expected).to.equal(`balance ${formatAmount(balance, stake)} of ${wallet.address} is below the 20000 MESH needed`);
    expect(await page.getByTestId("tx-message").textContent()).to.equal(`: ${expected}`);
    await page.getByLabel(/Amount to stake/).fill("1.0000000000000000001");
    await page.getByRole("alert").getByText(/more than 18 decimals/).waitFor();
    await page.getByLabel(/Amount to stake/).fill("");
  });

  it("quotes an offer and rents it: cost + fee = escrow shown, then one permit and createJobWithPermit", async function () {
    const offerId = market.offers[2]!;
    await page.getByRole("link", { name: "Market", exact: true }).click();
    await page.getByRole("link", { name: `#${offerId}` }).click();
    await page.getByRole("link", { name: "Rent GPUs of this offer" }).click();
    await page.getByRole("heading", { name: "Client console" }).waitFor();
    await page.getByTestId("rent-offer").getByText("A100-SXM-80GB").waitFor();
    expect(await page.getByLabel(/Max price per GPU-hour/).inputValue()).to.equal("1.30");

    await page.getByRole("button", { name: /mint 10000 USDC/ }).click();
    await txConfirmed(/mint 10000.00 USDC/);
    await page.getByTestId("payment-balance").getByText("10000.00 USDC").waitFor();

    await page.getByRole("textbox", { name: "GPUs", exact: true }).fill("3");
    await page.getByLabel(/Duration/).fill("90m");
    await page.getByRole("button", { name: "Quote" }).click();
    await page.getByTestId("quote").waitFor();
    const [cost, fee, escrow] = await market.m.read<readonly [bigint, bigint, bigint, bigint]>("market", "quote", [offerId, 3, 5400]);
    expect(cost).to.equal(5_850_000n); // 1.30 x 3 GPUs x 1.5 h
    expect(cost + fee).to.equal(escrow);
    expect(await page.getByTestId("quote-cost").textContent()).to.equal(formatAmount(cost, payment));
    expect(await page.getByTestId("quote-fee").textContent()).to.equal(formatAmount(fee, payment));
    expect(await page.getByTestId("quote-escrow").textContent()).to.equal(formatAmount(escrow, payment));
    await screenshot(page, "client-console-quote", "desktop");

    const signaturesBefore = wallet.requests.filter((request) => request.method === "eth_signTypedData_v4").length;
    await page.getByRole("button", { name: /^Rent: pay/ }).click();
    const hash = await txConfirmed(/rent/);
    expect(wallet.requests.filter((request) => request.method === "eth_signTypedData_v4").length).to.equal(signaturesBefore + 1);
    const receipt = await market.m.publicClient.getTransactionReceipt({ hash: hash as `0x${string}` });
    const created = parseEventLogs({ abi: jobMarketAbi, logs: receipt.logs, eventName: "JobCreated" })[0]!;
    expect(created.args.client.toLowerCase()).to.equal(wallet.address.toLowerCase());
    expect(created.args.escrow).to.equal(escrow);
    await page.getByTestId("created-job").getByText(`Job #${created.args.jobId}`).waitFor();
    await page.getByTestId("payment-balance").getByText(formatAmount(10_000_000_000n - escrow, payment)).waitFor();
    expect(await horizontalOverflow(page)).to.equal(0);
    await screenshot(page, "client-console", "desktop");
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await horizontalOverflow(page)).to.equal(0);
    await screenshot(page, "client-console", "phone");
    await page.setViewportSize({ width: 1280, height: 900 });
    expect(await seriousAxeViolations(page)).to.deep.equal([]);

    await market.caughtUp();
    await page.getByTestId("created-job").getByRole("link").click();
    await page.getByTestId("job-money").getByText(formatAmount(escrow, payment)).first().waitFor();
    await screenshot(page, "job-created-in-browser", "desktop");
    createdJobId = created.args.jobId;
  });

  it("asks for GPUs spread over 2 providers, shows the API's plan, rents it in one transaction with exactly the quoted escrows, and tells a PRICE shortfall", async function () {
    await page.getByRole("link", { name: "Rent GPUs" }).click();
    const form = page.getByRole("form", { name: "Ask for GPUs" });
    await form.getByLabel("GPU model").selectOption("H100-SXM-80GB");
    await form.getByLabel("GPU count").fill("4");
    await form.getByLabel(/^For/).fill("2h");
    await form.getByLabel(/Spread across/).fill("2");
    await form.getByRole("button", { name: "Plan" }).click();
    await page.getByTestId("plan-legs").waitFor();
    const planned = (
      await market.query(
        `{ quote(gpuModel: "H100-SXM-80GB", gpus: 4, duration: 7200, spreadAcross: 2) {
             fillable providers cost fee escrow legs { offer { id } provider { id } gpus pricePerGpuHour cost fee escrow } } }`,
      )
    ).quote;
    expect(planned.fillable).to.equal(true);
    expect(planned.providers).to.equal(2);
    const legs = planned.legs as Array<{ offer: { id: string }; provider: { id: string }; gpus: number; pricePerGpuHour: string; cost: string; fee: string; escrow: string }>;
    expect(new Set(legs.map((leg) => leg.provider.id)).size).to.equal(2);
    const usdc = (value: string | bigint) => formatAmount(BigInt(value), payment);
    const rows = page.getByTestId("plan-leg");
    expect(await rows.evaluateAll((elements) => elements.map((element) => element.getAttribute("data-offer")))).to.deep.equal(legs.map((leg) => leg.offer.id));
    for (const [index, leg] of legs.entries()) {
      const text = (await rows.nth(index).textContent())!;
      expect(text).to.contain(usdc(leg.pricePerGpuHour)).and.contain(usdc(leg.cost)).and.contain(usdc(leg.fee));
      expect(await rows.nth(index).getByTestId("plan-leg-escrow").textContent()).to.equal(usdc(leg.escrow));
    }
    const total = legs.reduce((sum, leg) => sum + BigInt(leg.escrow), 0n);
    expect(BigInt(planned.cost) + BigInt(planned.fee)).to.equal(BigInt(planned.escrow));
    expect(total).to.equal(BigInt(planned.escrow));
    expect(await page.getByTestId("plan-cost").textContent()).to.equal(usdc(planned.cost));
    expect(await page.getByTestId("plan-fee").textContent()).to.equal(usdc(planned.fee));
    expect(await page.getByTestId("plan-escrow").textContent()).to.equal(usdc(planned.escrow));
    expect(await horizontalOverflow(page)).to.equal(0);
    await screenshot(page, "client-console-plan", "desktop");
    await readmeScreenshot(page, "client-console", page.locator("#ask"));
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await horizontalOverflow(page)).to.equal(0);
    await screenshot(page, "client-console-plan", "phone");
    await page.setViewportSize({ width: 1280, height: 900 });
    expect(await seriousAxeViolations(page)).to.deep.equal([]);

    const balanceBefore = await market.m.read<bigint>("payment", "balanceOf", [wallet.address]);
    const signaturesBefore = wallet.requests.filter((request) => request.method === "eth_signTypedData_v4").length;
    // What the legs' job column shows while the transaction goes through, as the user sees it.
    await page.evaluate(() => {
      const scope = globalThis as any;
      scope.__legSteps = [];
      new MutationObserver(() => {
        const cells = [...scope.document.querySelectorAll('[data-testid="plan-leg-job"]')].map((cell: any) => cell.textContent).join(" | ");
        if (scope.__legSteps.at(-1) !== cells) scope.__legSteps.push(cells);
      }).observe(scope.document.body, { subtree: true, childList: true, characterData: true });
    });
    await page.getByRole("button", { name: /^Rent the plan: pay/ }).click();
    const hash = await txConfirmed(/rent 2 jobs/);
    // One permit for the total, one transaction for every leg.
    expect(wallet.requests.filter((request) => request.method === "eth_signTypedData_v4").length).to.equal(signaturesBefore + 1);
    const receipt = await market.m.publicClient.getTransactionReceipt({ hash: hash as `0x${string}` });
    const created = parseEventLogs({ abi: jobMarketAbi, logs: receipt.logs, eventName: "JobCreated" });
    expect(created.map((event) => [event.args.offerId.toString(), event.args.provider.toLowerCase(), event.args.gpus, event.args.pricePerGpuHour, event.args.escrow])).to.deep.equal(
      legs.map((leg) => [leg.offer.id, leg.provider.id, leg.gpus, BigInt(leg.pricePerGpuHour), BigInt(leg.escrow)]),
    );
    for (const event of created) {
      expect(event.args.client.toLowerCase()).to.equal(wallet.address.toLowerCase());
      expect(event.args.duration).to.equal(7200);
      const onChain = await market.m.read<{ client: string; offerId: number; gpus: number; state: number }>("market", "getJob", [event.args.jobId]);
      expect(onChain.client.toLowerCase()).to.equal(wallet.address.toLowerCase());
      expect(BigInt(onChain.offerId)).to.equal(event.args.offerId);
    }
    expect(await market.m.read<bigint>("payment", "balanceOf", [wallet.address])).to.equal(balanceBefore - BigInt(planned.escrow));
    await page.getByTestId("plan-rented").waitFor();
    expect(await page.getByTestId("plan-leg-job").allTextContents()).to.deep.equal(created.map((event) => `Job #${event.args.jobId}`));
    const legSteps = await page.evaluate(() => (globalThis as any).__legSteps as string[]);
    expect(legSteps).to.include("signing | signing").and.include("pending | pending");
    expect(legSteps.at(-1)).to.equal(created.map((event) => `Job #${event.args.jobId}`).join(" | "));
    expect(await page.getByRole("button", { name: /^Rent the plan/ }).count(), "a rented plan cannot be sent twice").to.equal(0);
    await page.getByTestId("payment-balance").getByText(usdc(balanceBefore - BigInt(planned.escrow))).waitFor();
    // The indexer sees them at the quoted escrows, and the console lists them with the client's jobs.
    await market.caughtUp();
    for (const [index, event] of created.entries()) {
      expect((await market.query(`{ job(id: "${event.args.jobId}") { escrow state } }`)).job).to.deep.equal({ escrow: legs[index]!.escrow, state: "CREATED" });
      await page.locator(`[data-testid="console-job"][data-job="${event.args.jobId}"]`).waitFor();
    }
    await screenshot(page, "client-console-plan-rented", "desktop");

    // Above the price limit: no plan, the shortfall and the API's sentence.
    await form.getByLabel(/Max USDC per GPU-hour/).fill("2.00");
    await form.getByRole("button", { name: "Plan" }).click();
    await page.getByTestId("plan-shortfall").waitFor();
    const refused = (await market.query(`{ quote(gpuModel: "H100-SXM-80GB", gpus: 4, duration: 7200, spreadAcross: 2, maxPricePerGpuHour: "2000000") { fillable shortfall message } }`)).quote;
    expect(refused).to.deep.include({ fillable: false, shortfall: "PRICE" });
    expect(await page.getByTestId("plan-shortfall-code").textContent()).to.equal("PRICE");
    expect(await page.getByTestId("plan-message").textContent()).to.equal(refused.message);
    expect(await page.getByRole("button", { name: /^Rent the plan/ }).count()).to.equal(0);
    await screenshot(page, "client-console-plan-shortfall", "desktop");
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await horizontalOverflow(page)).to.equal(0);
    await screenshot(page, "client-console-plan-shortfall", "phone");
    await page.setViewportSize({ width: 1280, height: 900 });
    await form.getByLabel(/Spread across/).fill("5");
    await form.getByRole("button", { name: "Plan" }).click();
    await page.getByRole("alert").getByText(/spread across: 5 is out of range \(1\.\.4\)/).waitFor();
  });

  it("creates, reprices and closes an offer, and accepts, claims and completes a job of it as the provider", async function () {
    await page.getByRole("link", { name: "Provide GPUs" }).click();
    await page.getByTestId("staked").waitFor();
    const form = page.getByRole("form", { name: "New offer" });
    await form.getByLabel("GPU model").selectOption("L40S-48GB");
    await form.getByLabel("GPUs").fill("4");
    await form.getByLabel(/Price per GPU-hour/).fill("1.75");
    await form.getByLabel("Region").fill("eu-north");
    await form.getByRole("button", { name: "Create offer" }).click();
    await txConfirmed(/create offer/);
    const offerId = (await market.m.read<bigint>("market", "nextOfferId")) - 1n;
    const row = page.locator(`[data-testid="my-offer"][data-offer="${offerId}"]`);
    await row.getByTestId("my-offer-price").getByText("1.75 USDC").waitFor({ timeout: 20_000 });

    await row.getByLabel(`Price of offer #${offerId}`).fill("1.60");
    await row.getByRole("button", { name: "reprice" }).click();
    await txConfirmed(new RegExp(`reprice offer #${offerId}`));
    await row.getByTestId("my-offer-price").getByText("1.60 USDC").waitFor({ timeout: 20_000 });
    expect((await market.m.read<{ pricePerGpuHour: bigint }>("market", "getOffer", [offerId])).pricePerGpuHour).to.equal(1_600_000n);

    // A client rents it from the command line's side of the world.
    const jobId = await market.m.createJob(market.clients[0]!, offerId, 2, 3600);
    const job = page.locator(`[data-testid="console-job"][data-job="${jobId}"]`);
    await job.and(page.locator('[data-state="CREATED"]')).waitFor({ timeout: 20_000 });
    await job.getByRole("button", { name: "accept" }).click();
    await txConfirmed(new RegExp(`accept job #${jobId}`));
    await job.and(page.locator('[data-state="RUNNING"]')).waitFor({ timeout: 20_000 });
    await market.m.increaseTime(1200);
    await job.getByRole("button", { name: "claim" }).click();
    await txConfirmed(new RegExp(`claim job #${jobId}`));
    expect((await market.m.read<{ claimed: bigint }>("market", "getJob", [jobId])).claimed > 0n).to.equal(true);
    // The console's liveness and earnings: the claim is the latest sign of life and the claimed pay is earned.
    await market.caughtUp();
    const { provider: health } = await market.query(`{ provider(id: "${wallet.address.toLowerCase()}") { lastHeartbeatAt earned } }`);
    expect(BigInt(health.earned) > 0n).to.equal(true);
    await page.getByTestId("provider-earned").getByText(formatAmount(BigInt(health.earned), payment), { exact: true }).waitFor({ timeout: 20_000 });
    await page.getByTestId("provider-last-heartbeat").getByText(formatTime(health.lastHeartbeatAt), { exact: true }).waitFor({ timeout: 20_000 });
    await job.getByRole("button", { name: "complete" }).click();
    await txConfirmed(new RegExp(`complete job #${jobId}`));
    await job.and(page.locator('[data-state="COMPLETED"]')).waitFor({ timeout: 20_000 });
    completedJobId = jobId;
    // Settling inside the dispute window is refused before anything is signed, in the CLI's words.
    await job.getByRole("button", { name: "settle" }).click();
    await page.getByTestId("tx-status").and(page.locator('[data-step="failed"]')).waitFor();
    expect(await page.getByTestId("tx-message").textContent()).to.match(new RegExp(`^: the dispute window of job #${jobId} is open until \\d{4}-\\d\\d-\\d\\dT[\\d:]+Z; it can be settled after that$`));

    const declined = await market.m.createJob(market.clients[1]!, offerId, 1, 3600);
    const declinedRow = page.locator(`[data-testid="console-job"][data-job="${declined}"]`);
    await declinedRow.and(page.locator('[data-state="CREATED"]')).waitFor({ timeout: 20_000 });
    await declinedRow.getByRole("button", { name: "decline" }).click();
    await txConfirmed(new RegExp(`decline job #${declined}`));
    await declinedRow.and(page.locator('[data-state="DECLINED"]')).waitFor({ timeout: 20_000 });

    await row.getByRole("button", { name: "close" }).click();
    await txConfirmed(new RegExp(`close offer #${offerId}`));
    await row.getByText("closed").waitFor({ timeout: 20_000 });
    expect(await horizontalOverflow(page)).to.equal(0);
    await screenshot(page, "provider-console-offers-jobs", "desktop");
    await readmeScreenshot(page, "provider-console", page.locator("#provider-stake"));
    await page.setViewportSize({ width: 390, height: 844 });
    expect(await horizontalOverflow(page)).to.equal(0);
    await screenshot(page, "provider-console-offers-jobs", "phone");
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  it("extends a running job with a permit, ends it early and disputes it as the client", async function () {
    const jobId = createdJobId!;
    await market.m.send(market.providers[1]!, "market", "acceptJob", [jobId]);
    await page.getByRole("link", { name: "Rent GPUs", exact: true }).click();
    const job = page.locator(`[data-testid="console-job"][data-job="${jobId}"]`);
    await job.and(page.locator('[data-state="RUNNING"]')).waitFor({ timeout: 20_000 });
    const before = await market.m.read<{ duration: number }>("market", "getJob", [jobId]);
    await job.getByLabel(`Extension of job #${jobId}`).fill("1h");
    await job.getByRole("button", { name: "extend" }).click();
    await txConfirmed(new RegExp(`extend by 1h for [\\d.]+ USDC job #${jobId} with permit`));
    expect(Number((await market.m.read<{ duration: number }>("market", "getJob", [jobId])).duration)).to.equal(Number(before.duration) + 3600);
    await market.m.increaseTime(600);
    await job.getByRole("button", { name: "end early" }).click();
    await txConfirmed(new RegExp(`end early job #${jobId}`));
    await job.and(page.locator('[data-state="COMPLETED"]')).waitFor({ timeout: 20_000 });
    // Disputed inside its window: the bond pulled by a permit in the same transaction.
    const bondsBefore = await market.m.read<bigint>("market", "disputeBondsHeld");
    await job.getByRole("button", { name: "dispute" }).click();
    await txConfirmed(new RegExp(`dispute \\(bond [\\d.]+ USDC\\) job #${jobId} with permit`));
    await job.and(page.locator('[data-state="DISPUTED"]')).waitFor({ timeout: 20_000 });
    expect((await market.m.read<bigint>("market", "disputeBondsHeld")) > bondsBefore).to.equal(true);
    await screenshot(page, "client-console-jobs", "desktop");
    expect(await seriousAxeViolations(page)).to.deep.equal([]);
  });

  it("cancels a job before acceptance and reports a silent provider's job dark as the client", async function () {
    const rentOne = async (): Promise<bigint> => {
      await page.goto(`${market.url}/console/client?offer=${market.offers[2]}`);
      await page.getByTestId("network-ok").waitFor();
      await page.getByTestId("rent-offer").waitFor();
      await page.getByRole("textbox", { name: "GPUs", exact: true }).fill("1");
      await page.getByLabel(/Duration/).fill("2h");
      await page.getByRole("button", { name: "Quote" }).click();
      await page.getByRole("button", { name: /^Rent: pay/ }).click();
      await txConfirmed(/rent/);
      return BigInt((await page.getByTestId("created-job").getByRole("link").textContent())!.replace(/\D/g, ""));
    };
    const cancelled = await rentOne();
    const cancelRow = page.locator(`[data-testid="console-job"][data-job="${cancelled}"]`);
    await cancelRow.and(page.locator('[data-state="CREATED"]')).waitFor({ timeout: 20_000 });
    await cancelRow.getByRole("button", { name: "cancel" }).click();
    await txConfirmed(new RegExp(`cancel job #${cancelled}`));
    await cancelRow.and(page.locator('[data-state="CANCELLED"]')).waitFor({ timeout: 20_000 });

    const silent = await rentOne();
    await market.m.send(market.providers[1]!, "market", "acceptJob", [silent]);
    // The liveness timeout (15 minutes) passes without a sign of life from the provider.
    await market.m.increaseTime(16 * 60);
    const darkRow = page.locator(`[data-testid="console-job"][data-job="${silent}"]`);
    await darkRow.getByRole("button", { name: "report dark" }).waitFor({ timeout: 20_000 });
    await darkRow.getByRole("button", { name: "report dark" }).click();
    await txConfirmed(new RegExp(`report dark job #${silent}`));
    await darkRow.and(page.locator('[data-state="DARK"]')).waitFor({ timeout: 20_000 });
  });

  it("connects a wallet that only injects window.ethereum (no EIP-6963) and switches its network", async function () {
    let injectedOnly: TestWallet | undefined;
    const other = await openPage(browser, "phone", async (context) => {
      injectedOnly = await injectTestWallet(context, { rpcUrl: market.anvil.url, privateKey: generatePrivateKey(), startChainId: 10, wallets: [], windowEthereum: true });
    });
    try {
      await other.page.goto(`${market.url}/console/client`);
      const choices = other.page.getByTestId("wallet-choices");
      await choices.getByRole("button", { name: "Browser wallet" }).click();
      await other.page.getByTestId("wrong-network").getByText("Your wallet is on chain 10").waitFor();
      await other.page.getByRole("button", { name: /Switch to GPU Mesh local/ }).click();
      await other.page.getByTestId("network-ok").waitFor();
      expect(injectedOnly!.chainId()).to.equal(31337);
      expect(await other.page.getByTestId("wallet-connected").textContent()).to.contain("Browser wallet connected as");
      await other.page.getByTestId("payment-balance").getByText("0.00 USDC").waitFor();
      expect(await horizontalOverflow(other.page)).to.equal(0);
      await screenshot(other.page, "client-console-injected-wallet", "phone");
    } finally {
      await other.close();
    }
    expectNoProblems(other);
  });

  it("settles a job after its dispute window, requests an unstake and withdraws it after the unbonding period", async function () {
    await page.getByRole("link", { name: "Provide GPUs" }).click();
    await page.getByTestId("staked").waitFor();
    const jobId = completedJobId!;
    await market.m.increaseTime(24 * 3600 + 60);
    const row = page.locator(`[data-testid="console-job"][data-job="${jobId}"]`);
    await row.getByRole("button", { name: "settle" }).click();
    await txConfirmed(new RegExp(`settle job #${jobId}`));
    await row.and(page.locator('[data-state="SETTLED"]')).waitFor({ timeout: 20_000 });

    await page.getByLabel(/Amount to unstake/).fill("40.5");
    await page.getByRole("button", { name: "Request unstake" }).click();
    await txConfirmed(/request unstake/);
    await page.getByTestId("staked").getByText("110 MESH").waitFor();
    const withdraw = page.getByRole("button", { name: /^Withdraw 40.5 MESH/ });
    await withdraw.waitFor();
    // Too early: the CLI's sentence names when the stake is ready.
    await withdraw.click();
    await page.getByTestId("tx-status").and(page.locator('[data-step="failed"]')).getByText(/the unbonding stake is ready only at/).waitFor();
    await market.m.increaseTime(7 * 24 * 3600 + 60);
    const balanceBeforeWithdraw = await market.m.read<bigint>("stake", "balanceOf", [wallet.address]);
    await withdraw.click();
    await txConfirmed(/withdraw stake/);
    // The wallet also holds the SLA credit of the job it reported dark, paid in the stake token.
    const afterWithdraw = await market.m.read<bigint>("stake", "balanceOf", [wallet.address]);
    expect(afterWithdraw - balanceBeforeWithdraw).to.equal(40_500_000_000_000_000_000n);
    await page.getByTestId("stake-balance").getByText(formatAmount(afterWithdraw, stake)).waitFor();
  });
});
