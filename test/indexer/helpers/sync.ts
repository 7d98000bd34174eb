import { GpuMeshError } from "../../../src/internal/errors";
import { createIndexer, type IndexerOptions } from "../../../src/sync/indexer";

/** Keeps calling syncOnce until caught up, retrying what the indexer's own loop would retry; returns its status. */
export async function syncToHead(options: IndexerOptions, attempts = 50): Promise<ReturnType<ReturnType<typeof createIndexer>["status"]["snapshot"]>> {
  const indexer = createIndexer(options);
  const errors: string[] = [];
  for (let attempt = 0; attempt < attempts; attempt++) {
    try {
      if ((await indexer.syncOnce()).caughtUp) return indexer.status.snapshot();
    } catch (error) {
      if (!(error instanceof GpuMeshError) || !error.retryable) throw error;
      errors.push(error.message);
    }
  }
  throw new Error(`did not catch up; errors: ${errors.join("; ")}`);
}
