import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-toolbox/network-helpers";
import { STARTER_GPU_MODELS } from "../../src/chain/deploy";
import { H100, createJob, createOffer, deployedFixture, marketFixture } from "./helpers";

const modelId = (name: string) => ethers.keccak256(ethers.toUtf8Bytes(name));

describe("GpuCatalog: list and delist models", function () {
  it("holds the starter catalog in listing order", async function () {
    const { catalog } = await loadFixture(deployedFixture);
    expect(await catalog.modelIds()).to.deep.equal(STARTER_GPU_MODELS.map((m) => modelId(m.name)));
    const h100 = await catalog.getModel(H100);
    expect([h100.name, h100.vramGb, h100.listed]).to.deep.equal(["H100-SXM-80GB", 80n, true]);
  });

  it("lists a model under keccak256(name), emitting GpuModelListed", async function () {
    const { catalog } = await loadFixture(deployedFixture);
    const name = "GB200-NVL72-186GB";
    expect(await catalog.listModel.staticCall(name, 186)).to.equal(modelId(name));
    await expect(catalog.listModel(name, 186))
      .to.emit(catalog, "GpuModelListed")
      .withArgs(modelId(name), name, 186);
    expect(await catalog.isListed(modelId(name))).to.equal(true);
  });

  it("validates names: 1-32 of [A-Z0-9-]", async function () {
    const { catalog } = await loadFixture(deployedFixture);
    for (const name of ["", "h100", "H100 80G", "H100_80G", "H100.SXM", "Ä100", "X".repeat(33)]) {
      await expect(catalog.listModel(name, 80)).to.be.revertedWithCustomError(catalog, "GpuCatalogInvalidName").withArgs(name);
    }
    await expect(catalog.listModel("X".repeat(32), 80)).to.emit(catalog, "GpuModelListed");
    await expect(catalog.listModel("9", 80)).to.emit(catalog, "GpuModelListed");
  });

  it("validates VRAM: 1 to 4096 GB", async function () {
    const { catalog } = await loadFixture(deployedFixture);
    await expect(catalog.listModel("ZERO-VRAM", 0)).to.be.revertedWithCustomError(catalog, "GpuCatalogInvalidVram").withArgs(0);
    await expect(catalog.listModel("HUGE-VRAM", 4097))
      .to.be.revertedWithCustomError(catalog, "GpuCatalogInvalidVram")
      .withArgs(4097);
    await expect(catalog.listModel("MAX-VRAM", 4096)).to.emit(catalog, "GpuModelListed");
  });

  it("refuses listing a listed model twice", async function () {
    const { catalog } = await loadFixture(deployedFixture);
    await expect(catalog.listModel("H100-SXM-80GB", 80))
      .to.be.revertedWithCustomError(catalog, "GpuCatalogAlreadyListed")
      .withArgs(H100);
  });

  it("delists and relists without duplicating the id", async function () {
    const { catalog } = await loadFixture(deployedFixture);
    await expect(catalog.delistModel(H100)).to.emit(catalog, "GpuModelDelisted").withArgs(H100);
    expect(await catalog.isListed(H100)).to.equal(false);
    await expect(catalog.delistModel(H100)).to.be.revertedWithCustomError(catalog, "GpuCatalogUnknownModel").withArgs(H100);
    const unknown = modelId("NEVER-LISTED");
    await expect(catalog.delistModel(unknown))
      .to.be.revertedWithCustomError(catalog, "GpuCatalogUnknownModel")
      .withArgs(unknown);
    await expect(catalog.listModel("H100-SXM-80GB", 80)).to.emit(catalog, "GpuModelListed");
    expect((await catalog.modelIds()).filter((id) => id === H100)).to.have.length(1);
  });

  it("a delisting stops new offers but not existing offers and their jobs", async function () {
    const env = await loadFixture(marketFixture);
    const { catalog, market, actors, offerId } = env;
    await catalog.delistModel(H100);
    await expect(createOffer(env, actors.provider))
      .to.be.revertedWithCustomError(market, "JobMarketUnknownGpuModel")
      .withArgs(H100);
    const jobId = await createJob(env, actors.client);
    await expect(market.connect(actors.provider).acceptJob(jobId)).to.emit(market, "JobAccepted");
    expect((await market.getOffer(offerId)).gpuModel).to.equal(H100);
  });
});
