import DataLoader from "dataloader";
import type { TokenUnits } from "../protocol/units";
import type { BudgetedContext } from "./budget";
import type { BlockAsOf, History } from "../store/history";
import type { GpuModelRecord, JobRecord, KeyedRecord, OfferRecord, ProviderRecord, Reads } from "../store/reads";

/** What the indexer running in the same process reports; absent when serving a database another process writes. */
export interface IndexerStatus {
  /** The chain head the indexer last saw. */
  headBlock: number | null;
  /** Blocks the indexer deliberately stays behind the head; /ready allows for them. */
  confirmations?: number;
  rpcRequests?: number;
  rpcErrors?: number;
  /** Totals over all RPC calls so far, for an average latency: rate(sum) / rate(count). */
  rpcLatencySeconds?: { count: number; sum: number };
}

export type StatusProvider = () => IndexerStatus;

export interface GpuModelIndex {
  list: GpuModelRecord[];
  byId: Map<string, GpuModelRecord>;
  byName: Map<string, GpuModelRecord>;
}

/**
 * Results derived from whole tables (market, capacity, prices, the model catalog), shared by all requests and
 * dropped whenever the database changes: under load most requests then cost one tiny version query.
 */
export interface ResultCache {
  /** `version` is the database version the request started at (Reads.dataVersion). */
  get<T>(version: string, key: string, compute: () => T): T;
}

export function modelIndex(reads: Reads): GpuModelIndex {
  const list = reads.gpuModels();
  return { list, byId: new Map(list.map((m) => [m.id, m])), byName: new Map(list.map((m) => [m.name, m])) };
}

const MAX_CACHED_RESULTS = 2000;

export function createResultCache(): ResultCache {
  let cachedVersion = "";
  const entries = new Map<string, unknown>();
  return {
    get<T>(version: string, key: string, compute: () => T): T {
      if (version !== cachedVersion) {
        entries.clear();
        cachedVersion = version;
      }
      if (entries.has(key)) return entries.get(key) as T;
      const value = compute();
      if (entries.size >= MAX_CACHED_RESULTS) entries.clear();
      entries.set(key, value);
      return value;
    },
  };
}

/** Per-request loaders: every link (job.provider, offer.jobs, ...) of one request is fetched in batches. */
export interface Loaders {
  provider: DataLoader<string, ProviderRecord | null>;
  offer: DataLoader<number, OfferRecord | null>;
  job: DataLoader<number, JobRecord | null>;
  /**
   * Pages of child rows for many parents with the same arguments (e.g. jobs(first: 5) of every provider on a page).
   * `name` and `argumentsKey` identify the list and its arguments.
   */
  childPages<K extends string | number, R>(
    name: string,
    argumentsKey: string,
    fetch: (parent: K) => Array<KeyedRecord<R>>,
  ): DataLoader<K, Array<KeyedRecord<R>>>;
  /** Counts of child rows for many parents in one query. */
  childCounts<K extends string | number>(
    name: string,
    argumentsKey: string,
    countAll: (parents: readonly K[]) => Map<K, number>,
  ): DataLoader<K, number>;
}

export function createLoaders(reads: Reads): Loaders {
  const byKey = <K, R>(keys: readonly K[], records: R[], keyOf: (record: R) => K): Array<R | null> => {
    const found = new Map(records.map((record) => [keyOf(record), record]));
    return keys.map((key) => found.get(key) ?? null);
  };
  const lists = new Map<string, DataLoader<any, any>>();
  const memoized = <L extends DataLoader<any, any>>(key: string, create: () => L): L => {
    let loader = lists.get(key) as L | undefined;
    if (!loader) {
      loader = create();
      lists.set(key, loader);
    }
    return loader;
  };
  return {
    provider: new DataLoader(async (addresses) => byKey(addresses, reads.providersByAddress(addresses), (p) => p.address)),
    offer: new DataLoader(async (ids) => byKey(ids, reads.offersById(ids), (o) => o.id)),
    job: new DataLoader(async (ids) => byKey(ids, reads.jobsById(ids), (j) => j.id)),
    // Each parent's page is one index range scan with LIMIT on the parent's (column, id) index: cheaper in
    // SQLite than one window-function query, which would read every child row of every parent.
    childPages: (name, argumentsKey, fetch) =>
      memoized(`pages:${name}:${argumentsKey}`, () => new DataLoader(async (parents) => parents.map((parent) => fetch(parent)))),
    childCounts: <K extends string | number>(name: string, argumentsKey: string, countAll: (parents: readonly K[]) => Map<K, number>) =>
      memoized(
        `counts:${name}:${argumentsKey}`,
        () =>
          new DataLoader<K, number>(async (parents) => {
            const counts = countAll(parents);
            return parents.map((parent) => counts.get(parent) ?? 0);
          }),
      ),
  };
}

export interface GraphqlContext extends BudgetedContext {
  reads: Reads;
  loaders: Loaders;
  /** Results of whole-table reads, valid for the database version this request started at. */
  cached<T>(key: string, compute: () => T): T;
  models(): GpuModelIndex;
  status?: StatusProvider;
  /** Chain id to report before the first block is indexed. */
  chainId?: number;
  /** The payment token's symbol and decimals (the deployment file's), for amounts in sentences; absent: base units. */
  paymentToken?: TokenUnits;
  /** Which blocks the store can answer as of, and its reads as of one (time travel). */
  history: History;
  /** Set in a context that answers as of a block: the block, and the clock of every answer in it. */
  asOf?: BlockAsOf;
}

/** The contexts of one request's blocks, by the request's own context. */
const blockContexts = new WeakMap<GraphqlContext, Map<number, GraphqlContext>>();

/**
 * The request's context as of `block`: the same request (its budget and status) with reads, loaders, results and
 * the GPU catalog as of the block. One per block per request, so that its loaders batch.
 */
export function contextAt(context: GraphqlContext, block: BlockAsOf): GraphqlContext {
  const root = (context.asOf ? Object.getPrototypeOf(context) : context) as GraphqlContext;
  let byBlock = blockContexts.get(root);
  if (!byBlock) blockContexts.set(root, (byBlock = new Map()));
  let scoped = byBlock.get(block.number);
  if (!scoped) {
    const reads = root.history.at(block);
    const cached = <T>(key: string, compute: () => T): T => root.cached(`@${block.number}:${key}`, compute);
    // The prototype is the request's context: the budget the execution adds to it later is seen here too.
    scoped = Object.assign(Object.create(root) as GraphqlContext, {
      asOf: block,
      reads,
      loaders: createLoaders(reads),
      cached,
      models: () => cached("models", () => modelIndex(reads)),
    });
    byBlock.set(block.number, scoped);
  }
  return scoped;
}
