import {
  GraphQLError,
  getNamedType,
  isAbstractType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isListType,
  isNonNullType,
  isObjectType,
  Kind,
  parse,
  visit,
  type ASTNode,
  type ASTVisitor,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLArgument,
  type GraphQLDirective,
  type GraphQLField,
  type GraphQLInputField,
  type GraphQLNamedType,
  type GraphQLSchema,
  type GraphQLType,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from "graphql";
import { DEFAULT_PAGE_SIZE } from "./inputs";

/**
 * Limits that keep one request from holding the server's single thread. Parse-time caps (nesting, tokens, fields,
 * aliases) bound the work of parsing and of graphql-js's validation, some of whose rules are quadratic in the fields
 * of a selection set; the depth and cost rules walk each fragment once; the cost counts introspection too, as the
 * exact number of objects it returns. Execution is bounded by the time budget (budget.ts).
 */

export const MAX_QUERY_DEPTH = 10;
export const MAX_QUERY_COST = 50_000;
/** GraphiQL's introspection query has about 190 tokens, 75 fields and no aliases. */
export const MAX_QUERY_TOKENS = 2_000;
export const MAX_QUERY_FIELDS = 500;
export const MAX_QUERY_ALIASES = 100;
/** Brackets ({, [, () open at once in the query text; deeper nesting would overflow the parser's stack. */
export const MAX_QUERY_NESTING = 32;
/** Levels of arrays and objects in the variables' values. */
export const MAX_VARIABLES_NESTING = 32;

export interface ParseLimits {
  maxTokens: number;
  maxFields: number;
  maxAliases: number;
  maxNesting: number;
}

const tooLarge = (message: string, extensions: Record<string, number>) =>
  new GraphQLError(message, { extensions: { code: "QUERY_TOO_LARGE", ...extensions } });

/** The deepest bracket nesting of GraphQL source text (strings and comments skipped), stopping past `limit`. */
function bracketNesting(source: string, limit: number): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < source.length; i++) {
    const char = source[i];
    if (char === "#") {
      while (i < source.length && source[i] !== "\n" && source[i] !== "\r") i++;
    } else if (char === '"') {
      if (source.startsWith('"""', i)) {
        const end = source.indexOf('"""', i + 3);
        i = end < 0 ? source.length : end + 2;
      } else {
        for (i++; i < source.length && source[i] !== '"' && source[i] !== "\n"; i++) if (source[i] === "\\") i++;
      }
    } else if (char === "{" || char === "[" || char === "(") {
      depth++;
      if (depth > deepest) deepest = depth;
      if (deepest > limit) return deepest;
    } else if (char === "}" || char === "]" || char === ")") {
      depth--;
    }
  }
  return deepest;
}

/**
 * graphql-js's parse with the caps applied before anything walks the document: nesting is checked on the text
 * (before the recursive parser sees it), tokens by the parser itself, fields and aliases in one pass over the
 * result (fragments counted once; their expansion is the cost rule's business).
 */
export function parseWithLimits(source: string, limits: ParseLimits): DocumentNode {
  const nesting = bracketNesting(source, limits.maxNesting);
  if (nesting > limits.maxNesting) {
    throw new GraphQLError(`the query's selections and values nest more than ${limits.maxNesting} levels deep`, {
      extensions: { code: "QUERY_TOO_DEEP", maxNesting: limits.maxNesting },
    });
  }
  let document: DocumentNode;
  try {
    document = parse(source, { maxTokens: limits.maxTokens });
  } catch (error) {
    // graphql 16 words it "more that N tokens".
    if (error instanceof GraphQLError && /contains more th(?:an|at) \d+ tokens/.test(error.message)) {
      throw tooLarge(`the query has more than ${limits.maxTokens} tokens`, { maxTokens: limits.maxTokens });
    }
    throw error;
  }
  let fields = 0;
  let aliases = 0;
  const pending: SelectionSetNode[] = [];
  for (const definition of document.definitions) {
    if (definition.kind === Kind.OPERATION_DEFINITION || definition.kind === Kind.FRAGMENT_DEFINITION) pending.push(definition.selectionSet);
  }
  for (let selectionSet = pending.pop(); selectionSet; selectionSet = pending.pop()) {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        fields++;
        if (selection.alias) aliases++;
      }
      if (selection.kind !== Kind.FRAGMENT_SPREAD && selection.selectionSet) pending.push(selection.selectionSet);
    }
  }
  if (fields > limits.maxFields) {
    throw tooLarge(`the query selects ${fields} fields, over the limit of ${limits.maxFields}`, { fields, maxFields: limits.maxFields });
  }
  if (aliases > limits.maxAliases) {
    throw tooLarge(`the query has ${aliases} aliases, over the limit of ${limits.maxAliases}`, { aliases, maxAliases: limits.maxAliases });
  }
  return document;
}

/** Null when every array and object of `value` nests at most `maxNesting` levels deep (checked without recursion). */
export function variablesNestingError(value: unknown, maxNesting: number): GraphQLError | null {
  const pending: Array<[unknown, number]> = [[value, 0]];
  for (let item = pending.pop(); item; item = pending.pop()) {
    const [current, depth] = item;
    if (current === null || typeof current !== "object") continue;
    if (depth >= maxNesting) {
      return new GraphQLError(`the variables' values nest more than ${maxNesting} levels deep`, {
        extensions: { code: "BAD_USER_INPUT", maxNesting },
      });
    }
    for (const child of Object.values(current)) pending.push([child, depth + 1]);
  }
  return null;
}

/** Fails operations whose fields nest deeper than maxDepth (fragments expanded, each measured once). */
export function createDepthLimitRule(maxDepth: number): ValidationRule {
  return function DepthLimit(context: ValidationContext): ASTVisitor {
    const fragmentDepths = new Map<string, number>();
    const depthOf = (selectionSet: SelectionSetNode | undefined): number => {
      if (!selectionSet) return 0;
      let deepest = 0;
      for (const selection of selectionSet.selections) {
        if (selection.kind === Kind.FIELD) {
          // Introspection is bounded by the schema's shape; its cost is counted by the cost rule.
          if (selection.name.value.startsWith("__")) continue;
          deepest = Math.max(deepest, 1 + depthOf(selection.selectionSet));
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          deepest = Math.max(deepest, depthOf(selection.selectionSet));
        } else {
          deepest = Math.max(deepest, fragmentDepth(selection.name.value));
        }
      }
      return deepest;
    };
    const fragmentDepth = (name: string): number => {
      const known = fragmentDepths.get(name);
      if (known !== undefined) return known;
      const fragment = context.getFragment(name);
      // A cycle (reported by NoFragmentCyclesRule) reads 0 while its fragment is being measured.
      fragmentDepths.set(name, 0);
      const depth = fragment ? depthOf(fragment.selectionSet) : 0;
      fragmentDepths.set(name, depth);
      return depth;
    };
    return {
      OperationDefinition(operation) {
        const depth = depthOf(operation.selectionSet);
        if (depth > maxDepth) {
          context.reportError(
            new GraphQLError(
              `query depth ${depth} exceeds the limit of ${maxDepth}: ask for fewer nested fields`,
              { nodes: operation, extensions: { code: "QUERY_TOO_DEEP", depth, maxDepth } },
            ),
          );
        }
      },
    };
  };
}

/** What an introspection field returns, as schema objects: each one counts 1 in the cost. */
type IntrospectionObject =
  | { kind: "schema" }
  | { kind: "type"; type: GraphQLType }
  | { kind: "field"; field: GraphQLField<unknown, unknown> }
  | { kind: "inputValue"; value: GraphQLArgument | GraphQLInputField }
  | { kind: "directive"; directive: GraphQLDirective }
  | { kind: "enumValue" };

function introspectionChildren(schema: GraphQLSchema, parent: IntrospectionObject, field: string): IntrospectionObject[] {
  const types = (list: readonly GraphQLType[]) => list.map((type): IntrospectionObject => ({ kind: "type", type }));
  const inputValues = (list: ReadonlyArray<GraphQLArgument | GraphQLInputField>) =>
    list.map((value): IntrospectionObject => ({ kind: "inputValue", value }));
  switch (parent.kind) {
    case "schema":
      if (field === "types") return types(Object.values(schema.getTypeMap()));
      if (field === "directives") return schema.getDirectives().map((directive) => ({ kind: "directive", directive }));
      if (field === "queryType") return types([schema.getQueryType()].filter((type) => !!type) as GraphQLType[]);
      if (field === "mutationType") return types([schema.getMutationType()].filter((type) => !!type) as GraphQLType[]);
      if (field === "subscriptionType") return types([schema.getSubscriptionType()].filter((type) => !!type) as GraphQLType[]);
      return [];
    case "type": {
      const type = parent.type;
      if (field === "ofType") return isListType(type) || isNonNullType(type) ? types([type.ofType]) : [];
      if (field === "fields") return isObjectType(type) || isInterfaceType(type) ? Object.values(type.getFields()).map((f) => ({ kind: "field", field: f })) : [];
      if (field === "inputFields") return isInputObjectType(type) ? inputValues(Object.values(type.getFields())) : [];
      if (field === "interfaces") return isObjectType(type) || isInterfaceType(type) ? types(type.getInterfaces()) : [];
      if (field === "possibleTypes") return isAbstractType(type) ? types(schema.getPossibleTypes(type)) : [];
      if (field === "enumValues") return isEnumType(type) ? type.getValues().map((): IntrospectionObject => ({ kind: "enumValue" })) : [];
      return [];
    }
    case "field":
      if (field === "args") return inputValues(parent.field.args);
      if (field === "type") return types([parent.field.type]);
      return [];
    case "inputValue":
      return field === "type" ? types([parent.value.type]) : [];
    case "directive":
      return field === "args" ? inputValues(parent.directive.args) : [];
    case "enumValue":
      return [];
  }
}

/** Identity of an introspection object, for memoizing fragments applied to it. */
function introspectionKey(object: IntrospectionObject): unknown {
  switch (object.kind) {
    case "type":
      return object.type;
    case "field":
      return object.field;
    case "inputValue":
      return object.value;
    case "directive":
      return object.directive;
    default:
      return object.kind;
  }
}

/** The arguments whose values the cost rule reads: a page's size and the type `__type` names. */
const COST_ARGUMENTS = new Set(["first", "name"]);

/**
 * The variables whose values the cost of `document` depends on (createCostLimitRule reads no others): those passed
 * to a `first` or `name` argument anywhere in it, sorted.
 */
export function costVariables(document: DocumentNode): string[] {
  const names = new Set<string>();
  visit(document, {
    Argument(node) {
      if (COST_ARGUMENTS.has(node.name.value) && node.value.kind === Kind.VARIABLE) names.add(node.value.name.value);
    },
  });
  return [...names].sort();
}

/**
 * Fails operations whose estimated cost exceeds maxCost. The estimate counts the objects a query can return:
 * each object-valued field costs 1, and the selections under a paged field (one with a `first` argument) count
 * `first` times (its default when absent). Introspection (__schema, __type) costs exactly the objects it would
 * return, walked over the schema. Each fragment is costed once per operation (per introspection object inside
 * introspection) and counts at every spread. `first` given by a variable is read from `variables`, so this rule runs
 * at execution time, when the variables are known.
 */
export function createCostLimitRule(maxCost: number, variables: Record<string, unknown> = {}): ValidationRule {
  return function CostLimit(context: ValidationContext): ASTVisitor {
    const schema = context.getSchema();

    const argumentValue = (field: FieldNode, name: string, operation: OperationDefinitionNode): unknown => {
      const argument = field.arguments?.find((arg) => arg.name.value === name);
      if (!argument) return undefined;
      if (argument.value.kind === Kind.INT) return Number(argument.value.value);
      if (argument.value.kind === Kind.STRING) return argument.value.value;
      if (argument.value.kind !== Kind.VARIABLE) return undefined;
      const variable = argument.value.name.value;
      if (variables[variable] !== undefined) return variables[variable];
      const declared = operation.variableDefinitions?.find((definition) => definition.variable.name.value === variable);
      const fallback = declared?.defaultValue;
      if (fallback?.kind === Kind.INT) return Number(fallback.value);
      if (fallback?.kind === Kind.STRING) return fallback.value;
      return undefined;
    };

    const pageSize = (field: FieldNode, definition: GraphQLField<unknown, unknown>, operation: OperationDefinitionNode): number => {
      const value = argumentValue(field, "first", operation);
      // Only a value that is an Int counts: any other (1e300, 2.5, "10") fails the variables' coercion, whose error
      // names the variable, rather than costing as much as it says.
      if (typeof value === "number" && Number.isInteger(value) && Math.abs(value) <= 2 ** 31 - 1) return Math.max(value, 0);
      const declaredDefault = definition.args.find((arg) => arg.name === "first")?.defaultValue;
      return typeof declaredDefault === "number" ? declaredDefault : DEFAULT_PAGE_SIZE;
    };

    let operation: OperationDefinitionNode;
    const fragmentCosts = new Map<string, number>();
    const introspectionCosts = new Map<string, Map<unknown, number>>();
    const fragment = (name: string): FragmentDefinitionNode | undefined | null => context.getFragment(name);

    /** Cost of a fragment, once per operation; a cycle (reported by NoFragmentCyclesRule) costs 0 inside itself. */
    const fragmentCost = (name: string): number => {
      const known = fragmentCosts.get(name);
      if (known !== undefined) return known;
      fragmentCosts.set(name, 0);
      const definition = fragment(name);
      const cost = definition ? costOf(definition.selectionSet, schema.getType(definition.typeCondition.name.value)) : 0;
      fragmentCosts.set(name, cost);
      return cost;
    };

    const costOf = (selectionSet: SelectionSetNode | undefined, parentType: GraphQLNamedType | undefined | null): number => {
      if (!selectionSet || !parentType) return 0;
      let total = 0;
      for (const selection of selectionSet.selections) {
        if (selection.kind === Kind.FIELD) {
          const name = selection.name.value;
          if (name === "__schema") {
            total += 1 + introspectionCost(selection.selectionSet, { kind: "schema" });
            continue;
          }
          if (name === "__type") {
            const typeName = argumentValue(selection, "name", operation);
            const type = typeof typeName === "string" ? schema.getType(typeName) : undefined;
            if (type) total += 1 + introspectionCost(selection.selectionSet, { kind: "type", type });
            continue;
          }
          if (!selection.selectionSet) continue;
          const definition =
            isObjectType(parentType) || isInterfaceType(parentType) ? parentType.getFields()[name] : undefined;
          if (!definition) continue;
          const children = costOf(selection.selectionSet, getNamedType(definition.type));
          const multiplier = definition.args.some((arg) => arg.name === "first") ? pageSize(selection, definition, operation) : 1;
          total += 1 + multiplier * children;
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          const type = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : parentType;
          total += costOf(selection.selectionSet, type);
        } else {
          total += fragmentCost(selection.name.value);
        }
        if (total > maxCost) break;
      }
      return total;
    };

    const introspectionCost = (selectionSet: SelectionSetNode | undefined, object: IntrospectionObject): number => {
      if (!selectionSet) return 0;
      let total = 0;
      for (const selection of selectionSet.selections) {
        if (selection.kind === Kind.FIELD) {
          if (!selection.selectionSet) continue;
          for (const child of introspectionChildren(schema, object, selection.name.value)) {
            total += 1 + introspectionCost(selection.selectionSet, child);
            if (total > maxCost) return total;
          }
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          total += introspectionCost(selection.selectionSet, object);
        } else {
          total += introspectionFragmentCost(selection.name.value, object);
        }
        if (total > maxCost) break;
      }
      return total;
    };

    const introspectionFragmentCost = (name: string, object: IntrospectionObject): number => {
      let byObject = introspectionCosts.get(name);
      if (!byObject) introspectionCosts.set(name, (byObject = new Map()));
      const key = introspectionKey(object);
      const known = byObject.get(key);
      if (known !== undefined) return known;
      byObject.set(key, 0);
      const cost = introspectionCost(fragment(name)?.selectionSet, object);
      byObject.set(key, cost);
      return cost;
    };

    return {
      OperationDefinition(node) {
        operation = node;
        fragmentCosts.clear();
        introspectionCosts.clear();
        const cost = costOf(node.selectionSet, schema.getRootType(node.operation));
        if (cost > maxCost) {
          context.reportError(
            new GraphQLError(
              `query cost ${cost} exceeds the limit of ${maxCost}: ask for smaller pages (first) or fewer nested lists`,
              { nodes: node as ASTNode, extensions: { code: "QUERY_TOO_COSTLY", cost, maxCost } },
            ),
          );
        }
      },
    };
  };
}
