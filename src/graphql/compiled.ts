import type { DocumentNode, ExecutionArgs, ExecutionResult } from "graphql";
import { compileQuery, isCompiledQuery, type CompiledQuery } from "graphql-jit";
import type { ExecutionPath } from "./metrics";

/**
 * Executes the documents that repeat with code compiled for them (graphql-jit): a dashboard, the web app and the
 * load of a market ask the same few documents with other variables. graphql-js's executor walks the document's
 * selections again for every object of every list, and that walk was most of a large answer's cost (prices: 168
 * buckets x 11 fields). A document is compiled the second time it is executed, so that a stream of documents seen
 * once (nothing repeats, or a hostile client) costs no compilation; documents that cannot be compiled (graphql-jit
 * refuses some) stay with graphql-js, and so do the answers with errors. Compiled code calls the schema's own
 * resolvers (time travel and the time budget included) and serializers, so both executors answer alike;
 * test/indexer/graphql-compiled.test.ts holds them to it.
 */

type Execute = (args: ExecutionArgs) => ExecutionResult | Promise<ExecutionResult>;

interface Entry {
  runs: number;
  compiled?: CompiledQuery | null;
}

/** Executions of a document before it is compiled. */
export const COMPILE_AFTER_RUNS = 1;

export function createCompiledExecution(options: { compileAfterRuns?: number; onExecution?: (path: ExecutionPath) => void } = {}) {
  const count = options.onExecution ?? (() => {});
  const compileAfter = options.compileAfterRuns ?? COMPILE_AFTER_RUNS;
  // Documents are yoga's parsed (and cached) ones: an entry lives as long as its document.
  const entries = new WeakMap<DocumentNode, Map<string, Entry>>();

  return function execute(args: ExecutionArgs, fallback: Execute): ExecutionResult | Promise<ExecutionResult> {
    let byOperation = entries.get(args.document);
    if (!byOperation) entries.set(args.document, (byOperation = new Map()));
    const operation = args.operationName ?? "";
    let entry = byOperation.get(operation);
    if (!entry) byOperation.set(operation, (entry = { runs: 0 }));
    if (entry.compiled === undefined && ++entry.runs > compileAfter) {
      const result = compileQuery(args.schema, args.document, args.operationName ?? undefined, { disablingCapturingStackErrors: true });
      entry.compiled = isCompiledQuery(result) ? result : null;
    }
    if (!entry.compiled) {
      count(entry.compiled === null ? "uncompilable" : "warming");
      return fallback(args);
    }
    const result = entry.compiled.query(args.rootValue, args.contextValue, args.variableValues ?? {}) as ExecutionResult | Promise<ExecutionResult>;
    // graphql-js's errors are the API's: their messages (variables), locations and order. The rare answer with an
    // error is made again by graphql-js, within the same time budget.
    const settled = (answer: ExecutionResult) => {
      if (!answer.errors?.length) {
        count("compiled");
        return answer;
      }
      count("error_rerun");
      return fallback(args);
    };
    return isPromise(result) ? result.then(settled) : settled(result);
  };
}

function isPromise<T>(value: T | Promise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown }).then === "function";
}
