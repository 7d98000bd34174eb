import fs from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { CHAIN_JOB_STATES, OFFER_FIELDS, PARAMETER_NAMES, parameterColumn } from "../../src/protocol";

const ROOT = path.join(__dirname, "..", "..");

/** The members of `enum Name { ... }` in a Solidity source, in order. */
function solidityEnum(file: string, name: string): string[] {
  const source = fs.readFileSync(path.join(ROOT, file), "utf8");
  const match = new RegExp(`enum\\s+${name}\\s*\\{([^}]*)\\}`).exec(source);
  if (!match) throw new Error(`no enum ${name} in ${file}`);
  return match[1]!
    .replace(/\/\/.*$/gm, "")
    .split(",")
    .map((member) => member.trim())
    .filter(Boolean);
}

const lowerFirst = (name: string) => name[0]!.toLowerCase() + name.slice(1);

/** src/protocol is the one TypeScript copy of the contracts' vocabulary: it must say what the contracts say. */
describe("protocol vocabulary (src/protocol) against the contracts", function () {
  it("job states are JobState's members in order", function () {
    expect([...CHAIN_JOB_STATES]).to.deep.equal(solidityEnum("contracts/types/Job.sol", "JobState"));
  });

  it("parameter names are IJobMarket.Parameter's members in order, and the Parameters struct's fields", function () {
    expect(PARAMETER_NAMES.map((name) => name[0]!.toUpperCase() + name.slice(1))).to.deep.equal(
      solidityEnum("contracts/interfaces/IJobMarket.sol", "Parameter"),
    );
    const struct = /struct Parameters \{([^}]*)\}/.exec(fs.readFileSync(path.join(ROOT, "contracts/interfaces/IJobMarket.sol"), "utf8"))![1]!;
    const fields = [...struct.matchAll(/uint\d+\s+(\w+);/g)].map((m) => m[1]);
    expect([...fields].sort()).to.deep.equal([...PARAMETER_NAMES].sort());
  });

  it("offer fields are OfferField's members in order", function () {
    expect([...OFFER_FIELDS]).to.deep.equal(solidityEnum("contracts/types/Offer.sol", "OfferField").map(lowerFirst));
  });

  it("the store's terms table has a column per parameter", function () {
    const migrations = fs.readdirSync(path.join(ROOT, "src/store/migrations")).map((file) => fs.readFileSync(path.join(ROOT, "src/store/migrations", file), "utf8"));
    const terms = /CREATE TABLE terms \(([^;]*)\);/.exec(migrations.join("\n"))![1]!;
    for (const name of PARAMETER_NAMES) expect(terms, name).to.contain(`${parameterColumn(name)} INTEGER`);
  });
});
