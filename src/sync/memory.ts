import v8 from "node:v8";
import vm from "node:vm";

export interface HeapBudget {
  /** Collects garbage when the heap has grown past the budget; true when it did. */
  check(): boolean;
}

/**
 * V8 sizes its heap from the machine's memory and lets old garbage pile up to several times the live data before a
 * full collection. A backfill turns every batch of RPC responses into such garbage, so on a large machine the process
 * would sit at hundreds of MB for tens of MB of live data. Between batches, when the heap has grown past the budget,
 * this runs one full collection (a few tens of ms), which keeps the footprint near the budget. The collector is
 * reached through V8's expose-gc flag in a fresh context; without it (or with budget 0) this does nothing.
 */
export function createHeapBudget(budgetMb: number): HeapBudget {
  const collect = budgetMb > 0 ? garbageCollector() : null;
  const budgetBytes = budgetMb * 2 ** 20;
  return {
    check() {
      if (!collect || v8.getHeapStatistics().used_heap_size < budgetBytes) return false;
      collect();
      return true;
    },
  };
}

function garbageCollector(): (() => void) | null {
  const existing = (globalThis as { gc?: () => void }).gc;
  if (typeof existing === "function") return existing;
  try {
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc") as unknown;
    return typeof gc === "function" ? (gc as () => void) : null;
  } catch {
    return null;
  }
}
