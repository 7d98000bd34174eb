import Database from "better-sqlite3";
import { expect } from "chai";
import { buildSchema, getNamedType, isLeafType, isNonNullType, isObjectType, type GraphQLObjectType } from "graphql";
import { createGraphqlApp, type GraphqlApp } from "../../src/graphql/app";
import { typeDefs } from "../../src/graphql/schema";
import { silentLogger } from "../../src/internal/logger";
import { A100, C1, createFixture, H100, P1, P2, type Fixture } from "./graphql-fixture";

/**
 * Repeated documents run as compiled code (src/graphql/compiled.ts, graphql-jit), the others through graphql-js's
 * executor: both must answer every document byte for byte alike. Every field of every type is asked for (a selection
 * generated from the schema, so that a field added later is covered), and so are the answers that are errors.
 */

const schema = buildSchema(typeDefs);

/** Every field of `type` that needs no argument, objects `depth` levels down. */
function everyField(type: GraphQLObjectType, depth: number): string {
  const parts: string[] = [];
  for (const field of Object.values(type.getFields())) {
    if (field.args.some((arg) => isNonNullType(arg.type) && arg.defaultValue === undefined)) continue;
    const named = getNamedType(field.type);
    if (isLeafType(named)) parts.push(field.name);
    else if (depth > 0 && isObjectType(named)) parts.push(`${field.name} { ${everyField(named, depth - 1)} }`);
  }
  return parts.length > 0 ? parts.join(" ") : "__typename";
}

/** A root field with its arguments and every field of what it answers. */
function root(call: string, depth = 2): string {
  const name = call.split("(", 1)[0];
  const field = schema.getQueryType()!.getFields()[name];
  const named = getNamedType(field.type);
  return `{ ${call}${isObjectType(named) ? ` { ${everyField(named, depth)} }` : ""} }`;
}

const DOCUMENTS: Array<{ query: string; variables?: Record<string, unknown> }> = [
  { query: root("_meta") },
  { query: root("market") },
  { query: root("gpuModels") },
  { query: root(`gpuModel(name: "${H100}")`) },
  { query: root("capacity") },
  { query: root("capacity(groupBy: REGION)") },
  { query: root(`capacity(groupBy: GPU_MODEL_REGION, gpuModel: "${H100}")`) },
  { query: root(`prices(gpuModel: "${H100}", from: 1699900000, to: 1700100000)`) },
  { query: root(`prices(gpuModel: "${A100}", interval: DAY)`) },
  { query: root("utilization(from: 1699900000, to: 1700100000)") },
  { query: root(`quote(gpuModel: "${H100}", gpus: 2, duration: 3600)`) },
  { query: root(`quote(gpuModel: "${H100}", gpus: 64, duration: 3600, spreadAcross: 3)`) },
  { query: root(`provider(id: "${P1}")`) },
  { query: root(`provider(id: "${P2}")`, 3) },
  { query: root("providers(orderBy: JOBS_COMPLETED, orderDirection: DESC)") },
  { query: root("offer(id: 1)", 3) },
  { query: root("offers(first: 2)") },
  { query: root("job(id: 2)") },
  { query: root("jobs(first: 3, orderBy: CREATED_AT, orderDirection: DESC)") },
  { query: root(`account(id: "${C1}")`) },
  { query: root("terms") },
  // With variables, fragments, aliases and directives.
  {
    query: `query($p: ID!, $first: Int, $with: Boolean!) {
      a: provider(id: $p) { id ...Counts jobs(first: $first) { items { id state } totalCount pageInfo { hasNextPage endCursor } } }
      b: provider(id: "${P2}") { ...Counts offers @include(if: $with) { totalCount } }
    }
    fragment Counts on Provider { jobsAccepted jobsCompleted }`,
    variables: { p: P1, first: 2, with: true },
  },
  // Answers that are errors: a bad argument, a bad variable, a missing entity, a null for a non-null field.
  { query: root(`provider(id: "not an address")`) },
  { query: "query($first: Int) { jobs(first: $first) { totalCount } }", variables: { first: "many" } },
  { query: "query($first: Int) { jobs(first: $first) { totalCount } }", variables: { first: -1 } },
  { query: root("job(id: 999)") },
  { query: root(`quote(gpuModel: "NO-SUCH-GPU", gpus: 1, duration: 3600)`) },
  { query: root("market(block: { number: 999999 })") },
  { query: root(`prices(gpuModel: "${H100}", from: 10, to: 5)`) },
];

describe("GraphQL: compiled execution answers exactly as graphql-js's", function () {
  let fixture: Fixture;
  let reader: Database.Database;
  let interpreted: GraphqlApp;
  let compiled: GraphqlApp;

  before(function () {
    fixture = createFixture();
    reader = new Database(fixture.file, { readonly: true, fileMustExist: true });
    interpreted = createGraphqlApp({ db: reader, logger: silentLogger(), compileAfterRuns: Infinity });
    compiled = createGraphqlApp({ db: reader, logger: silentLogger(), compileAfterRuns: 0 });
  });

  after(function () {
    reader?.close();
    fixture?.close();
  });

  async function answer(app: GraphqlApp, body: unknown): Promise<string> {
    const response = await app.yoga.fetch("http://127.0.0.1/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify(body),
    });
    return `${response.status} ${await response.text()}`;
  }

  /** gpumesh_graphql_executions_total of `app`, by path. */
  async function executions(app: GraphqlApp): Promise<Record<string, number>> {
    const metric = await app.metrics.registry.getSingleMetric("gpumesh_graphql_executions_total")!.get();
    return Object.fromEntries(metric.values.map((value) => [value.labels.path, value.value]));
  }

  for (const [index, document] of DOCUMENTS.entries()) {
    it(`document ${index}: ${document.query.replace(/\s+/g, " ").slice(0, 70)}`, async function () {
      const expected = await answer(interpreted, document);
      const before = await executions(compiled);
      // Twice: the compiled code is built by the first run and reused by the second (other variables: not cached).
      expect(await answer(compiled, document)).to.equal(expected);
      expect(await answer(compiled, { ...document, variables: { ...document.variables, unused: 1 } })).to.equal(expected);
      // Answered by the compiled code itself, unless the answer is an error (then graphql-js answers it again).
      const after = await executions(compiled);
      const path = JSON.parse(expected.slice(4)).errors ? "error_rerun" : "compiled";
      expect((after[path] ?? 0) - (before[path] ?? 0), `executions by path ${path}: ${JSON.stringify(after)}; ${expected.slice(0, 600)}`).to.equal(2);
    });
  }

  it("asks for every field: the corpus answers data for most documents", async function () {
    let withData = 0;
    for (const document of DOCUMENTS) {
      const body = JSON.parse((await answer(interpreted, document)).slice(4));
      if (body.data && !body.errors) withData++;
    }
    expect(withData).to.be.at.least(DOCUMENTS.length - 8);
  });
});
