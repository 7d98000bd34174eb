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
 * slice of `sliceMs` of execution the request yields to the event loop (other requests are answered in between),
 * and `budgetMs` after its execution started it is aborted with a TIME_BUDGET_EXCEEDED error. The budget is wall
 * time, waits for the next slice included: a small request runs in one slice, so only large ones are cut sooner when
 * the server is busy, and no request's work can exceed its budget.
 */

export const REQUEST_TIME_BUDGET_MS = 250;
export const EXECUTION_SLICE_MS = 10;

export interface ExecutionBudget {
  /**
   * Undefined while the current slice lasts; a promise to wait for the next slice before resolving; once the budget
   * is spent, throws. The request is then answered with `exceeded` alone.
   */
  check(): Promise<void> | undefined;
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

export function createExecutionBudget(options: { budgetMs: number; sliceMs: number }): ExecutionBudget {
  let exceed: (error: GraphQLError) => void = () => {};
  const exceeded = new Promise<GraphQLError>((resolve) => (exceed = resolve));
  // Thrown by every field reached after the budget: one error object that already has a path, which graphql-js
  // passes on as it is, so that the rest of the query unwinds without building an error (and its stack) per field.
  const stop = new GraphQLError("time budget exceeded", { path: [] });
  const startedAt = performance.now();
  let sliceStartedAt = startedAt;
  let paused: Promise<void> | undefined;
  let error: GraphQLError | null = null;

  return {
    exceeded,
    spent: () => error,
    check() {
      if (error) throw stop;
      const now = performance.now();
      if (now - startedAt >= options.budgetMs) {
        error = budgetError(options.budgetMs);
        exceed(error);
        throw stop;
      }
      // Fields reached while the request waits for its next slice wait with it.
      if (paused) return paused;
      if (now - sliceStartedAt < options.sliceMs) return undefined;
      paused = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        paused = undefined;
        sliceStartedAt = performance.now();
      });
      return paused;
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
      const budgeted: GraphQLFieldResolver<unknown, BudgetedContext> = (source, args, context, info) => {
        const pause = context?.budget?.check();
        return pause ? pause.then(() => budgeted(source, args, context, info)) : resolve(source, args, context, info);
      };
      field.resolve = budgeted;
      budgetedFields.add(field);
    }
  }
}
