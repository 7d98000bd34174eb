import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Database } from "better-sqlite3";
import { validate, type DocumentNode, type ExecutionArgs, type ExecutionResult, type GraphQLError, type GraphQLSchema } from "graphql";
import { renderGraphiQL } from "@graphql-yoga/render-graphiql";
import { createSchema, createYoga, type Plugin, type YogaInitialContext, type YogaServerInstance } from "graphql-yoga";
import type { Registry } from "prom-client";
import type { TokenUnits } from "../protocol/units";
import type { Logger } from "../internal/logger";
import { createHistory } from "../store/history";
import { createReads } from "../store/reads";
import { writerAlive } from "../store/writer-lock";
import {
  createLoaders,
  createResultCache,
  modelIndex,
  type GraphqlContext,
  type IndexerStatus,
  type StatusProvider,
} from "./context";
import { createCompiledExecution } from "./compiled";
import { applyExecutionBudget, createExecutionBudget, EXECUTION_SLICE_MS, REQUEST_TIME_BUDGET_MS, type BudgetedContext } from "./budget";
import {
  createCostLimitRule,
  costVariables,
  createDepthLimitRule,
  MAX_QUERY_ALIASES,
  MAX_QUERY_COST,
  MAX_QUERY_DEPTH,
  MAX_QUERY_FIELDS,
  MAX_QUERY_NESTING,
  MAX_QUERY_TOKENS,
  MAX_VARIABLES_NESTING,
  parseWithLimits,
  variablesNestingError,
} from "./limits";
import { createApiMetrics, type ApiMetrics } from "./metrics";
import { createResponseCache, type CachedResponse } from "./response-cache";
import { resolvers } from "./resolvers";
import { applyTimeTravel } from "./time-travel";
import { typeDefs } from "./schema";
import { createWebHandler, type WebHandlerOptions } from "../web/static";

export type { IndexerStatus, StatusProvider } from "./context";

export interface GraphqlAppOptions {
  /** The store, opened read-only by `serve` or shared with the indexer by `run`. */
  db: Database;
  /** Progress of an indexer running in this process (head block, RPC figures); absent for `serve`. */
  status?: StatusProvider;
  logger: Logger;
  /** Reported by _meta before the first block is indexed. */
  chainId?: number;
  /**
   * The payment token's symbol and decimals, from the deployment file (the store does not keep them): sentences
   * such as Quote.message print amounts in it and in base units; without it, in base units only.
   */
  paymentToken?: TokenUnits;
  /** /ready answers 200 while the indexed block is at most this many blocks behind the head (less confirmations). */
  readyMaxLagBlocks?: number;
  maxQueryDepth?: number;
  maxQueryCost?: number;
  /** Milliseconds of CPU time a request's execution may use before it is aborted with TIME_BUDGET_EXCEEDED. */
  requestTimeBudgetMs?: number;
  /** Milliseconds a request executes before it lets other requests run (budget.ts). */
  executionSliceMs?: number;
  /**
   * Executions of a document by graphql-js before it is compiled (compiled.ts): default COMPILE_AFTER_RUNS, 0 from
   * the first, Infinity never.
   */
  compileAfterRuns?: number;
  /** More Prometheus registries to expose on /metrics (e.g. the indexer's own). */
  registries?: Registry[];
  /** The web app served at / (src/web/static.ts): its build folder and the deployment it talks to. */
  web?: WebHandlerOptions;
}

export interface Readiness {
  ready: boolean;
  indexedBlock: number | null;
  headBlock: number | null;
  lagBlocks: number | null;
  /** Why it is not ready, when that is not simply the lag. */
  reason?: string;
}

export interface GraphqlApp {
  yoga: YogaServerInstance<ServerContext, GraphqlContext>;
  metrics: ApiMetrics;
  readiness(): Readiness;
  /** Node request listener: /graphql (GraphiQL on GET from a browser), /health, /ready, /metrics. */
  handle: http.RequestListener;
  /** Resolves once no request is being answered: after it, the database can be closed under the app. */
  settled(): Promise<void>;
}

/** What the HTTP layer hands to each GraphQL request: the database version it already read, if it did. */
export interface ServerContext {
  dataVersion?: string;
}

export interface GraphqlServer {
  server: http.Server;
  url: string;
  port: number;
  close(): Promise<void>;
}

const DEFAULT_READY_MAX_LAG_BLOCKS = 3;
/** How long close() lets the requests in flight finish before it hangs up on them (a body still trickling in). */
export const SHUTDOWN_GRACE_MS = 5_000;
const MAX_REQUEST_BODY_BYTES = 1024 * 1024;

/** The whole request body, or null when it is larger than MAX_REQUEST_BODY_BYTES. */
function readBody(request: http.IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BODY_BYTES) {
        request.removeAllListeners("data");
        request.resume();
        resolve(null);
        return;
      }
      chunks.push(chunk);
    });
    request.once("end", () => resolve(Buffer.concat(chunks)));
    request.once("error", reject);
    // After "end" this settles nothing; before it, the client hung up mid-body.
    request.once("close", () => reject(new Error("client closed the request before sending its body")));
  });
}

/** The GraphQL API over a store: schema, per-request loaders, limits, error masking, health and metrics routes. */
export function createGraphqlApp(options: GraphqlAppOptions): GraphqlApp {
  const { db, status, logger } = options;
  const reads = createReads(db);
  const history = createHistory(db, reads);
  const results = createResultCache();
  const responses = createResponseCache(reads);
  const metrics = createApiMetrics({ reads, status, registries: options.registries });
  const compiled =
    options.compileAfterRuns === Infinity
      ? null
      : createCompiledExecution({ compileAfterRuns: options.compileAfterRuns, onExecution: (path) => metrics.countExecution(path) });
  const maxCost = options.maxQueryCost ?? MAX_QUERY_COST;
  const depthLimit = createDepthLimitRule(options.maxQueryDepth ?? MAX_QUERY_DEPTH);
  const parseLimits = { maxTokens: MAX_QUERY_TOKENS, maxFields: MAX_QUERY_FIELDS, maxAliases: MAX_QUERY_ALIASES, maxNesting: MAX_QUERY_NESTING };
  const budgetMs = options.requestTimeBudgetMs ?? REQUEST_TIME_BUDGET_MS;
  const sliceMs = options.executionSliceMs ?? EXECUTION_SLICE_MS;


  // Documents repeat (yoga caches their parse); only the variables that carry `first` (or `__type`'s name) change
  // the cost, so the check is remembered per document and per values of those variables alone.
  const costChecks = new WeakMap<DocumentNode, { names: string[]; byValues: Map<string, readonly GraphQLError[]> }>();
  const costErrors = (schema: GraphQLSchema, document: DocumentNode, variables: Record<string, unknown>) => {
    let checks = costChecks.get(document);
    if (!checks) costChecks.set(document, (checks = { names: costVariables(document), byValues: new Map() }));
    const key = JSON.stringify(checks.names.map((name) => variables[name] ?? null));
    let errors = checks.byValues.get(key);
    if (!errors) {
      errors = validate(schema, document, [createCostLimitRule(maxCost, variables)]);
      if (checks.byValues.size >= 100) checks.byValues.clear();
      checks.byValues.set(key, errors);
    }
    return errors;
  };

  const limitsAndMetrics: Plugin<BudgetedContext> = {
    onParams({ params, setResult }) {
      // Checked before anything walks the values recursively (yoga's coercion, the cost cache's key).
      const error = variablesNestingError(params.variables, MAX_VARIABLES_NESTING);
      if (error) {
        metrics.countError("validation");
        setResult({ errors: [error] });
      }
    },
    onParse({ setParseFn }) {
      setParseFn((source) => parseWithLimits(typeof source === "string" ? source : source.body, parseLimits));
    },
    onValidate({ addValidationRule }) {
      addValidationRule(depthLimit);
      return ({ valid }) => {
        if (!valid) metrics.countError("validation");
      };
    },
    onExecute({ args, executeFn, setExecuteFn, setResultAndStopExecution, extendContext }) {
      // The cost depends on `first`, which variables may carry: checked here, where their values are known.
      const errors = costErrors(args.schema, args.document, args.variableValues ?? {});
      if (errors.length > 0) {
        metrics.countError("validation");
        setResultAndStopExecution({ errors });
        return;
      }
      const budget = createExecutionBudget({ budgetMs, sliceMs });
      extendContext({ budget });
      // Past the budget the partial result says nothing useful: the answer is the budget's error alone.
      const answer = (result?: ExecutionResult): ExecutionResult => {
        const spent = budget.spent();
        return spent ? { errors: [spent] } : result!;
      };
      setExecuteFn((executionArgs: ExecutionArgs) => {
        const executed = compiled ? compiled(executionArgs, executeFn as (args: ExecutionArgs) => ExecutionResult) : executeFn(executionArgs);
        const execution = Promise.resolve(executed as ExecutionResult | Promise<ExecutionResult>).then(answer, (error) => {
          if (budget.spent()) return answer();
          throw error;
        });
        return Promise.race([execution, budget.exceeded.then(() => answer())]);
      });
      return {
        onExecuteDone({ result }) {
          if ((result as ExecutionResult).errors?.length) metrics.countError("execution");
        },
      };
    },
  };

  const schema = createSchema<GraphqlContext & YogaInitialContext>({ typeDefs, resolvers });
  applyTimeTravel(schema);
  applyExecutionBudget(schema);

  const yoga = createYoga<ServerContext, GraphqlContext>({
    schema,
    graphqlEndpoint: "/graphql",
    graphiql: { title: "GPU Mesh" },
    // GraphiQL's assets inline, so it also works in a browser without internet access (yoga's default loads a CDN).
    renderGraphiQL,
    landingPage: false,
    // The handler below refuses bodies over MAX_REQUEST_BODY_BYTES before yoga sees them, and yoga serves /graphql
    // alone; yoga's own limit would pipe every body through one more stream.
    maxRequestBodySize: false,
    maskedErrors: true,
    plugins: [limitsAndMetrics],
    logging: {
      debug: (...args: unknown[]) => logger.debug({ msg: "graphql", detail: args }),
      info: (...args: unknown[]) => logger.info({ msg: "graphql", detail: args }),
      warn: (...args: unknown[]) => logger.warn({ msg: "graphql", detail: args }),
      error: (...args: unknown[]) => logger.error({ msg: "graphql error", err: args[0] }),
    },
    context: (initial) => {
      const version = initial.dataVersion ?? reads.dataVersion();
      const cached = <T>(key: string, compute: () => T): T => results.get(version, key, compute);
      return {
        reads,
        loaders: createLoaders(reads),
        cached,
        models: () => cached("models", () => modelIndex(reads)),
        status,
        chainId: options.chainId,
        paymentToken: options.paymentToken,
        history,
      };
    },
  });

  function readiness(): Readiness {
    const indexedBlock = reads.checkpoint()?.blockNumber ?? null;
    let headBlock: number | null;
    let confirmations: number;
    if (status) {
      const current: IndexerStatus = status();
      headBlock = current.headBlock;
      confirmations = current.confirmations ?? 0;
    } else {
      // Under `gpumesh serve` another process indexes: ready while it is alive and near the head it last saw.
      const writer = reads.writer();
      if (!writer || !writerAlive(writer)) {
        return { ready: false, indexedBlock, headBlock: null, lagBlocks: null, reason: "no indexer is writing this database" };
      }
      headBlock = writer.head_block;
      confirmations = writer.confirmations;
    }
    if (indexedBlock === null || headBlock === null) return { ready: false, indexedBlock, headBlock, lagBlocks: null };
    const lagBlocks = Math.max(0, headBlock - indexedBlock);
    const allowed = confirmations + (options.readyMaxLagBlocks ?? DEFAULT_READY_MAX_LAG_BLOCKS);
    return { ready: lagBlocks <= allowed, indexedBlock, headBlock, lagBlocks };
  }

  const sendJson = (response: http.ServerResponse, statusCode: number, body: unknown, headers: Record<string, string> = {}) => {
    response.writeHead(statusCode, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store", ...headers });
    response.end(JSON.stringify(body));
  };

  const web = createWebHandler(options.web);

  // The answers still being computed: the server's close() waits for them before the database goes away.
  const inFlight = new Set<Promise<unknown>>();
  const track = (work: Promise<unknown>): void => {
    inFlight.add(work);
    const done = () => inFlight.delete(work);
    work.then(done, done);
  };
  const settled = async (): Promise<void> => {
    while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
  };

  const handle: http.RequestListener = (request, response) => {
    const path = (request.url ?? "/").split("?", 1)[0];
    const isRead = request.method === "GET" || request.method === "HEAD";
    if (isRead && path === "/health") return sendJson(response, 200, { status: "ok" });
    if (isRead && path === "/ready") {
      const state = readiness();
      return sendJson(response, state.ready ? 200 : 503, { status: state.ready ? "ready" : "syncing", ...state });
    }
    if (isRead && path === "/metrics") {
      const collected = metrics.registry.metrics().then(
        (text) => {
          response.writeHead(200, { "content-type": metrics.registry.contentType });
          response.end(text);
        },
        (error: unknown) => {
          logger.error({ msg: "metrics collection failed", err: error });
          sendJson(response, 500, { error: "metrics collection failed" });
        },
      );
      return track(collected);
    }
    if (isRead && path !== "/graphql" && web(request, response, path)) return;
    if (path !== "/graphql") return sendJson(response, 404, { errors: [{ message: `no such path ${path}: GraphQL is served at /graphql` }] });
    const started = process.hrtime.bigint();
    response.once("finish", () =>
      metrics.observeRequest(response.statusCode, Number(process.hrtime.bigint() - started) / 1e9),
    );
    if (request.method !== "POST") return track(Promise.resolve(yoga(request, response)));
    // A declared length over the limit is refused before any of the body arrives (or never does); the connection
    // closes after the answer, so its body is never read.
    if (Number(request.headers["content-length"]) > MAX_REQUEST_BODY_BYTES) {
      return sendJson(response, 413, { errors: [{ message: `request body is over ${MAX_REQUEST_BODY_BYTES} bytes` }] }, { connection: "close" });
    }
    const answered = readBody(request)
      .then((body) =>
        body === null
          ? sendJson(response, 413, { errors: [{ message: `request body is over ${MAX_REQUEST_BODY_BYTES} bytes` }] })
          : answerPost(request, response, body),
      )
      .catch((error: unknown) => {
        logger.warn({ msg: "graphql request failed", err: error });
        if (!response.headersSent) sendJson(response, 500, { errors: [{ message: "Unexpected error." }] });
        else response.destroy();
      });
    track(answered);
  };

  /** POST /graphql: from the response cache when the same query was answered since the last commit, else yoga. */
  async function answerPost(request: http.IncomingMessage, response: http.ServerResponse, body: Buffer): Promise<void> {
    const accept = request.headers.accept;
    const origin = request.headers.origin;
    const key = responses.keyOf(body, { accept, origin });
    const version = responses.version();
    const cached = key === null ? undefined : responses.get(key, version);
    if (cached) {
      response.writeHead(cached.status, cached.headers);
      response.end(cached.body);
      return;
    }
    const headers: Array<[string, string]> = [];
    for (const [name, value] of Object.entries(request.headers)) {
      if (typeof value === "string") headers.push([name, value]);
      else if (Array.isArray(value)) for (const item of value) headers.push([name, item]);
    }
    const answer = await yoga.fetch(
      `http://${request.headers.host ?? "localhost"}${request.url}`,
      { method: "POST", headers, body },
      { dataVersion: version },
    );
    const result: CachedResponse = {
      status: answer.status,
      headers: Object.fromEntries(answer.headers.entries()),
      body: Buffer.from(await answer.arrayBuffer()),
    };
    response.writeHead(result.status, result.headers);
    response.end(result.body);
    if (key !== null) responses.store(key, version, result);
  }

  return { yoga, metrics, readiness, handle, settled };
}

/** Binds the app to host:port (port 0 picks a free one) and resolves once listening. */
export function createServer(options: { app: GraphqlApp; host?: string; port: number; graceMs?: number }): Promise<GraphqlServer> {
  const host = options.host ?? "127.0.0.1";
  const server = http.createServer(options.app.handle);
  // Keep-alive connections outlive requests; close() must not wait for clients to hang up.
  server.keepAliveTimeout = 5_000;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, host, () => {
      server.off("error", reject);
      const port = (server.address() as AddressInfo).port;
      const urlHost = host.includes(":") ? `[${host}]` : host;
      resolve({
        server,
        port,
        url: `http://${urlHost}:${port}`,
        // Stops accepting, lets the requests in flight finish (up to SHUTDOWN_GRACE_MS), then hangs up on the rest and
        // waits for their handlers too: when it resolves, nothing reads the database any more.
        close: async () => {
          // close() also hangs up on the idle keep-alive connections (Node.js 19 on).
          const closed = new Promise<void>((done, fail) => server.close((error) => (error ? fail(error) : done())));
          let timer: NodeJS.Timeout | undefined;
          const grace = new Promise<void>((done) => (timer = setTimeout(done, options.graceMs ?? SHUTDOWN_GRACE_MS)));
          await Promise.race([options.app.settled(), grace]);
          clearTimeout(timer);
          server.closeAllConnections();
          await options.app.settled();
          await closed;
        },
      });
    });
  });
}
