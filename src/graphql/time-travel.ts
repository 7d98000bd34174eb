import { defaultFieldResolver, getNamedType, isCompositeType, isObjectType, type GraphQLSchema } from "graphql";
import type { BlockAsOf, BlockLookup } from "../store/history";
import { contextAt, type GraphqlContext } from "./context";
import { badUserInput } from "./inputs";

/**
 * Time travel (README "Time travel"): `market`, `capacity`, `provider`, `offer` and `job` take `block: BlockInput`
 * and answer as of that block, nested fields included. A top-level field resolves its block (answerAsOf) and marks
 * what it returns with it; every field below a marked object then resolves in the request's context as of that block
 * (contextAt) and marks what it returns in turn. `_meta` takes `block` too and reports the block it resolves to
 * (resolveBlock), with the same errors.
 */

export interface BlockInput {
  number?: number | null;
  at?: number | null;
}

const AS_OF = Symbol("asOf");

type Marked = { [AS_OF]?: BlockAsOf };

/** Marks `value` (an object, a list of them, a promise of either) as answered as of `block`. */
function mark<T>(value: T, block: BlockAsOf): T {
  if (value instanceof Promise) return value.then((settled) => mark(settled, block)) as T;
  if (Array.isArray(value)) {
    for (const item of value) mark(item, block);
  } else if (value !== null && typeof value === "object") {
    (value as Marked)[AS_OF] = block;
  }
  return value;
}

/** Why the store cannot answer as of the block, as the argument's error. */
function lookupError(lookup: Exclude<BlockLookup, { found: true }>, input: { number?: number; at?: number }) {
  const argument = input.number !== undefined ? "block.number" : "block.at";
  const asked = input.number !== undefined ? `block ${input.number}` : `at ${input.at}`;
  switch (lookup.reason) {
    case "NO_HISTORY":
      return badUserInput(
        "this database keeps no history (it was indexed by a version of gpumesh before time travel): run this version's indexer on it to answer as of later blocks",
        "block",
      );
    case "NOT_INDEXED":
      return lookup.indexedBlock === null
        ? badUserInput(`${asked} is not indexed yet; the indexer has not indexed any block`, argument, { indexedBlock: null })
        : badUserInput(`${asked} is not indexed yet; the indexer is at ${lookup.indexedBlock}`, argument, { indexedBlock: lookup.indexedBlock });
    case "BEFORE_START":
      return badUserInput(`${asked} is before the deployment's start block ${lookup.startBlock}`, argument, { startBlock: lookup.startBlock });
    case "BEFORE_HISTORY":
      return lookup.historyBlocks === null
        ? badUserInput(
            `${asked} is before this database's history, which starts at block ${lookup.historyStart} (it was indexed before ` +
              "time travel; index into a fresh --db for all of it)",
            argument,
            { historyStart: lookup.historyStart },
          )
        : badUserInput(
            `${asked} is before this database's history, which starts at block ${lookup.historyStart} (its indexer keeps ` +
              `the last ${lookup.historyBlocks} blocks of history, --history-blocks ${lookup.historyBlocks}; index into a fresh --db ` +
              "without it for all of it)",
            argument,
            { historyStart: lookup.historyStart, historyBlocks: lookup.historyBlocks },
          );
    case "NO_BLOCK_AT":
      return badUserInput(
        lookup.first
          ? `no indexed block is at or before ${input.at}: the first one, block ${lookup.first.number}, is at ${lookup.first.timestamp}`
          : `no indexed block is at or before ${input.at}: none is indexed yet`,
        argument,
      );
  }
}

/** The block a `block` argument names, or its error. */
export function resolveBlock(context: GraphqlContext, input: BlockInput): BlockAsOf {
  const number = input.number ?? undefined;
  const at = input.at ?? undefined;
  if ((number === undefined) === (at === undefined)) {
    throw badUserInput(`argument "block" takes exactly one of number or at`, "block");
  }
  const lookup = number !== undefined ? context.history.byNumber(number) : context.history.byTime(at!);
  if (!lookup.found) throw lookupError(lookup, { number, at });
  return lookup.block;
}

/** `answer` in the request's context, or as of the block the argument names (nested fields included). */
export function answerAsOf<T>(context: GraphqlContext, input: BlockInput | null | undefined, answer: (context: GraphqlContext) => T): T {
  if (input === null || input === undefined) return answer(context);
  const block = resolveBlock(context, input);
  return mark(answer(contextAt(context, block)), block);
}

/**
 * Makes every field below a marked object resolve as of its block: fields with a resolver (they read the store or the
 * clock), and fields of object type (their objects are marked in turn). Query's own fields mark nothing: the five that
 * answer as of `block` do it themselves.
 */
export function applyTimeTravel(schema: GraphQLSchema): void {
  const query = schema.getQueryType();
  for (const type of Object.values(schema.getTypeMap())) {
    if (!isObjectType(type) || type === query || type.name.startsWith("__")) continue;
    for (const field of Object.values(type.getFields())) {
      if (!field.resolve && !isCompositeType(getNamedType(field.type))) continue;
      const resolve = field.resolve ?? defaultFieldResolver;
      field.resolve = (source, args, context: GraphqlContext, info) => {
        const block = (source as Marked | null)?.[AS_OF];
        return block === undefined ? resolve(source, args, context, info) : mark(resolve(source, args, contextAt(context, block), info), block);
      };
    }
  }
}
