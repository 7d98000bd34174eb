import { Registry } from "prom-client";
import type { Deployment } from "./chain/deployment";
import { createGraphqlApp, createServer, type GraphqlServer, type IndexerStatus as ApiIndexerStatus } from "./graphql/app";
import { ConfigError } from "./internal/errors";
import type { Logger } from "./internal/logger";
import { openStore } from "./store/db";
import { createIndexer, type Indexer } from "./sync/indexer";
import type { SyncOptionsInput } from "./sync/options";
import { retainHistory } from "./sync/retention";
import { createIndexerStatus, registerIndexerMetrics } from "./sync/status";

export interface IndexAndServeOptions extends SyncOptionsInput {
  rpcUrls: string[];
  deployment: Deployment;
  dbFile: string;
  host: string;
  port: number;
  logger: Logger;
  /** Blocks of time-travel history to keep (src/store/retention.ts); undefined keeps all of it. */
  historyBlocks?: number;
}

export interface IndexAndServe {
  indexer: Indexer;
  server: GraphqlServer;
  /** Settles when the indexer stops: resolves after stop(), rejects on a fatal indexing error. */
  indexing: Promise<void>;
  /** Stops the indexer after its batch in progress, closes the server and the database. */
  stop(): Promise<void>;
}

/**
 * The indexer and the GraphQL API in one process: the indexer writes through one connection, the API reads through
 * its own read-only one, so it never sees a batch half-written.
 */
export async function startIndexAndServe(options: IndexAndServeOptions): Promise<IndexAndServe> {
  const { deployment, logger } = options;
  const store = openStore({ file: options.dbFile });
  const reader = openStore({ file: options.dbFile, readonly: true });
  const closeStores = () => {
    reader.close();
    store.close();
  };
  try {
    const status = createIndexerStatus(deployment.chainId);
    const indexer = createIndexer({ ...options, store, logger, status });
    // The indexer's own connection: the single writer prunes, the API's reader never does.
    const retained = options.historyBlocks === undefined ? null : retainHistory({ status, store, logger, historyBlocks: options.historyBlocks });
    const indexerMetrics = new Registry();
    registerIndexerMetrics(indexerMetrics, status);
    const apiStatus = (): ApiIndexerStatus => {
      const snapshot = status.snapshot();
      return {
        headBlock: snapshot.headBlock,
        confirmations: indexer.options.confirmations,
        rpcRequests: snapshot.rpcRequests,
        rpcErrors: snapshot.rpcErrors,
        rpcLatencySeconds:
          snapshot.rpcLatencyMeanMs === null
            ? undefined
            : { count: snapshot.rpcRequests, sum: (snapshot.rpcLatencyMeanMs * snapshot.rpcRequests) / 1000 },
      };
    };
    const app = createGraphqlApp({
      db: reader.db,
      logger,
      status: apiStatus,
      chainId: deployment.chainId,
      paymentToken: deployment.tokens.payment,
      registries: [indexerMetrics],
      web: { deployment, rpcUrls: options.rpcUrls },
    });
    let server: GraphqlServer;
    try {
      server = await createServer({ app, host: options.host, port: options.port });
    } catch (error) {
      throw new ConfigError(`cannot listen on ${options.host}:${options.port}: ${(error as Error).message}`, error);
    }
    const indexing = indexer.start();
    let stopped: Promise<void> | null = null;
    return {
      indexer,
      server,
      indexing,
      stop() {
        stopped ??= (async () => {
          try {
            await indexer.stop();
            await indexing.catch(() => undefined);
            retained?.stop();
            await server.close();
          } finally {
            closeStores();
          }
        })();
        return stopped;
      },
    };
  } catch (error) {
    closeStores();
    throw error;
  }
}
