import fs from "node:fs";
import { performance } from "node:perf_hooks";
import {
  defaultFieldResolver,
  getNamedType,
  GraphQLError,
  isCompositeType,
  isObjectType,
  type GraphQLFieldResolver,
  type GraphQLSchema,
} from "graphql";

/**
 * A time budget for each request's execution. The resolvers (SQLite reads and DataLoader batches, which settle on
 * the microtask queue) never give the event loop back on their own, so a large query would hold the server's one
 * thread until it is done. Every field that opens objects or lists therefore passes through the budget: after each
 * slice of `sliceMs` (wall time) the request yields to the event loop, so other requests are answered in between,
 * and once its slices have used `budgetMs` of CPU time it is aborted with a TIME_BUDGET_EXCEEDED error. CPU time,
 * not wall time: on a busy machine (or a busy server, whose other requests run between the slices) a request is not
 * cut for time it did not use. Only this request runs on the main thread during its slice, so that thread's CPU
 * time is its own (threadCpuMs).
 */

export const REQUEST_TIME_BUDGET_MS = 200;
export const EXECUTION_SLICE_MS = 5;

export interface ExecutionBudget {
  /**
   * Runs a resolver now while the current slice lasts; else parks it until the request's next slice and returns a
   * promise of its result. Parked resolvers run in order, each once, at the next slices. Once the budget is spent
   * the request is answered with `exceeded` alone and the rest of the execution is dropped: resolvers reached in the
   * same synchronous run throw, which unwinds it at once; later ones (and parked ones) never settle. (A rejection
   * then could be left unhandled: graphql-js stops waiting for a list's other items when one throws.)
   */
  run<T>(resolve: () => T): T | Promise<T>;
  /** Resolves with the budget's error once it is spent. */
  exceeded: Promise<GraphQLError>;
  /** The budget's error once it is spent, else null. */
  spent(): GraphQLError | null;
}

export function budgetError(budgetMs: number): GraphQLError {
  return new GraphQLError(
    `the request ran out of its time budget of ${budgetMs} ms: ask for smaller pages (first) or fewer nested lists`,
    { extensions: { code: "TIME_BUDGET_EXCEEDED", budgetMs } },
  );
}

interface Parked {
  resolve: () => unknown;
  settle: (value: unknown) => void;
  fail: (reason: unknown) => void;
}

const processCpuMs = () => {
  const used = process.cpuUsage();
  return (used.user + used.system) / 1000;
};

/**
 * CPU time of the thread that loaded this module (the one that executes requests), in milliseconds. The process's
 * CPU time also counts V8's garbage-collection helpers and libuv's pool, which run beside the main thread without
 * holding up the event loop: during GraphiQL's introspection query in the indexer suite it was 165 ms against the
 * main thread's 68, enough to cut a request for work that delayed nobody. Node.js 23.9 has process.threadCpuUsage();
 * before it, on Linux, the scheduler's account of the thread (/proc/thread-self/schedstat: nanoseconds on a CPU, a
 * 2 µs read); elsewhere the process's time, the upper bound.
 */
export const threadCpuMs: () => number = (() => {
  const native = (process as { threadCpuUsage?: () => NodeJS.CpuUsage }).threadCpuUsage;
  if (typeof native === "function") {
    return () => {
      const used = native.call(process);
      return (used.user + used.system) / 1000;
    };
  }
  try {
    // Opened once: the descriptor keeps naming this thread, and a read at offset 0 renders the figure afresh.
    const fd = fs.openSync("/proc/thread-self/schedstat", "r");
    const buffer = Buffer.alloc(64);
    const read = () => Number(buffer.toString("latin1", 0, fs.readSync(fd, buffer, 0, buffer.length, 0)).split(" ", 1)[0]) / 1e6;
    if (read() > 0) return read;
    fs.closeSync(fd);
  } catch {
    // Not Linux, or no schedstat: the process's time below.
  }
  return processCpuMs;
})();

export function createExecutionBudget(options: { budgetMs: number; sliceMs: number }): ExecutionBudget {
  let exceed: (error: GraphQLError) => void = () => {};
  const exceeded = new Promise<GraphQLError>((resolve) => (exceed = resolve));
  // Thrown by every resolver reached after the budget: one error object that already has a path, which graphql-js
  // passes on as it is, so that the rest of the query unwinds without building an error (and its stack) per field.
  // Built once the budget is spent: an error's stack costs more than most requests' whole execution.
  let stop: GraphQLError | null = null;
  const stopError = () => (stop ??= new GraphQLError("time budget exceeded", { path: [] }));
  const never = new Promise<never>(() => {});
  let error: GraphQLError | null = null;
  let unwinding = false;
  let parked: Parked[] = [];
  let next = 0;
  let parking = false;

  let sliceStartedAt = performance.now();
  // CPU time is sampled at most every millisecond (a system call, which costs more than a small request's whole
  // execution) as resolvers are reached: the CPU time of a slice up to its last sample, the rest of its synchronous
  // run included, is this request's. The first slice takes no sample before its first millisecond, and its start
  // counts that millisecond of wall time as CPU time (the most it can be): a request done within it never asks.
  let sliceStartCpuMs: number | null = null;
  let sampledAt = sliceStartedAt;
  let sampledCpuMs = 0;
  let spentBeforeSliceMs = 0;

  const sample = (now: number) => {
    if (now - sampledAt < 1) return;
    sampledAt = now;
    sampledCpuMs = threadCpuMs();
    sliceStartCpuMs ??= sampledCpuMs - (now - sliceStartedAt);
  };
  const spentInSlice = () => (sliceStartCpuMs === null ? 0 : sampledCpuMs - sliceStartCpuMs);
  const overBudget = () => spentBeforeSliceMs + spentInSlice() >= options.budgetMs;
  const giveUp = () => {
    error = budgetError(options.budgetMs);
    exceed(error);
    parked = [];
    next = 0;
  };
  const park = (resolve: () => unknown) => {
    if (!parking) {
      parking = true;
      setImmediate(nextSlice);
    }
    return new Promise((settle, fail) => parked.push({ resolve, settle, fail }));
  };
  function nextSlice() {
    if (error) return;
    spentBeforeSliceMs += spentInSlice();
    parking = false;
    sliceStartedAt = sampledAt = performance.now();
    sliceStartCpuMs = sampledCpuMs = threadCpuMs();
    wake();
  }
  /**
   * Runs the next parked resolver, then queues itself behind the microtasks that resolver started (the completion
   * of its value), so that the slice's clock also covers them.
   */
  function wake() {
    if (error || parking) return;
    if (next >= parked.length) {
      parked = [];
      next = 0;
      return;
    }
    const now = performance.now();
    sample(now);
    if (overBudget()) return giveUp();
    if (now - sliceStartedAt >= options.sliceMs) {
      parking = true;
      setImmediate(nextSlice);
      return;
    }
    const { resolve, settle, fail } = parked[next++];
    try {
      settle(resolve());
    } catch (reason) {
      fail(reason);
    }
    queueMicrotask(wake);
  }

  return {
    exceeded,
    spent: () => error,
    run<T>(resolve: () => T): T | Promise<T> {
      if (error) {
        if (unwinding) throw stopError();
        return never;
      }
      const now = performance.now();
      sample(now);
      if (overBudget()) {
        giveUp();
        unwinding = true;
        queueMicrotask(() => (unwinding = false));
        throw stopError();
      }
      if (parking || now - sliceStartedAt >= options.sliceMs) return park(resolve) as Promise<T>;
      return resolve();
    },
  };
}

/** Carries the request's budget, set for each execution. */
export interface BudgetedContext {
  budget?: ExecutionBudget;
}

/**
 * graphql-js's introspection types (__Schema, __Type, ...) are shared by every schema of the process: their fields
 * are wrapped once, here remembered. The wrapper does nothing for a context without a budget.
 */
const budgetedFields = new WeakSet<object>();

/**
 * Passes the resolvers of the schema's fields of object or list-of-object type through the request's budget: these
 * are where execution fans out, and scalars between them are cheap.
 */
export function applyExecutionBudget(schema: GraphQLSchema): void {
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type)) continue;
    for (const field of Object.values(type.getFields())) {
      if (!isCompositeType(getNamedType(field.type)) || budgetedFields.has(field)) continue;
      const resolve: GraphQLFieldResolver<unknown, BudgetedContext> = field.resolve ?? defaultFieldResolver;
      field.resolve = (source, args, context, info) =>
        context?.budget ? context.budget.run(() => resolve(source, args, context, info)) : resolve(source, args, context, info);
      budgetedFields.add(field);
    }
  }
}
