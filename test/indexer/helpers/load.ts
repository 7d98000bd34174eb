import { A100, H100, MESH, REASON_HASH, RESULT_HASH, USDC, type MarketSession } from "./market";

/**
 * A long, busy chain for resume and fault tests: one transaction per block through job lifecycles on offers of two
 * models, with reprices, clock jumps (so hours, days and offer expiries pass) and some offers expiring on the way;
 * heartbeats, declines, extensions and receipted claims (protocol v2) on the way too.
 */
export async function generateActivity(m: MarketSession, rounds: number): Promise<void> {
  const [, p1, p2, , c1, c2, c3] = m.accounts;
  await m.registerProvider(p1, 100_000n * MESH);
  await m.registerProvider(p2, 100_000n * MESH);
  for (const client of [c1, c2, c3]) await m.fund(client, { usdc: 10_000_000n * USDC });
  const now = await m.latestTimestamp();
  const offers = [
    await m.createOffer(p1, { gpuModel: H100, gpus: 1000, pricePerGpuHour: 2_000_000n, region: "eu-west", expiresAt: now + 365 * 86400 }),
    await m.createOffer(p2, { gpuModel: H100, gpus: 1000, pricePerGpuHour: 1_900_000n, region: "us-east", expiresAt: now + 365 * 86400 }),
    await m.createOffer(p2, { gpuModel: A100, gpus: 1000, pricePerGpuHour: 1_100_000n, region: "us-east", expiresAt: now + 365 * 86400 }),
  ];
  const providerOf = [p1, p2, p2];
  const clients = [c1, c2, c3];
  for (let round = 0; round < rounds; round++) {
    const which = round % offers.length;
    const client = clients[round % clients.length];
    const provider = providerOf[which];
    const job = await m.createJob(client, offers[which], 1 + (round % 4), 3600);
    await m.send(provider, "market", "acceptJob", [job]);
    if (round % 5 === 2) await m.send(provider, "market", "declineJob", [await m.createJob(client, offers[which], 1, 3600), REASON_HASH]);
    if (round % 4 === 1) await m.send(client, "market", "extendJob", [job, 600, 2n ** 96n]);
    if (round % 5 === 0) {
      const later = await m.latestTimestamp();
      // A short-lived cheap offer that expires a few rounds later.
      await m.createOffer(p1, { gpuModel: A100, gpus: 2, pricePerGpuHour: 900_000n + BigInt(round), region: "eu-west", expiresAt: later + 1200 });
    }
    await m.increaseTime(600 + (round % 7) * 120);
    await m.send(provider, "market", "heartbeat", []);
    if (round % 3 === 1) {
      const servedUntil = BigInt(await m.latestTimestamp());
      await m.send(provider, "market", "claimWithReceipt", [job, servedUntil, await m.signReceipt(client, job, servedUntil)]);
    } else {
      await m.send(provider, "market", "claim", [job]);
    }
    if (round % 3 === 0) await m.send(client, "market", "endJobEarly", [job]);
    else await m.send(provider, "market", "completeJob", [job, RESULT_HASH]);
    if (round % 4 === 0) {
      await m.send(provider, "market", "updateOffer", [offers[which], 1000, 1_800_000n + BigInt(round * 1000), (await m.latestTimestamp()) + 365 * 86400]);
    }
  }
}
