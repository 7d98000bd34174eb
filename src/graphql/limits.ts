import {
  GraphQLError,
  getNamedType,
  isObjectType,
  isInterfaceType,
  Kind,
  type ASTVisitor,
  type FieldNode,
  type GraphQLField,
  type GraphQLNamedType,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from "graphql";
import { DEFAULT_PAGE_SIZE } from "./inputs";

/**
 * Query depth and cost limits as validation rules. Introspection fields (__schema, __type, ...) are not counted:
 * GraphiQL's introspection query is deep but cheap.
 */

export const MAX_QUERY_DEPTH = 10;
export const MAX_QUERY_COST = 50_000;

/** Fails operations whose fields nest deeper than maxDepth (fragments expanded). */
export function createDepthLimitRule(maxDepth: number): ValidationRule {
  return function DepthLimit(context: ValidationContext): ASTVisitor {
    const depthOf = (selectionSet: SelectionSetNode | undefined, visited: Set<string>): number => {
      if (!selectionSet) return 0;
      let deepest = 0;
      for (const selection of selectionSet.selections) {
        if (selection.kind === Kind.FIELD) {
          if (selection.name.value.startsWith("__")) continue;
          deepest = Math.max(deepest, 1 + depthOf(selection.selectionSet, visited));
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          deepest = Math.max(deepest, depthOf(selection.selectionSet, visited));
        } else {
          const name = selection.name.value;
          const fragment = context.getFragment(name);
          // A fragment cycle is reported by NoFragmentCyclesRule; stop walking it here.
          if (!fragment || visited.has(name)) continue;
          deepest = Math.max(deepest, depthOf(fragment.selectionSet, new Set([...visited, name])));
        }
        if (deepest > maxDepth) break;
      }
      return deepest;
    };
    return {
      OperationDefinition(operation) {
        const depth = depthOf(operation.selectionSet, new Set());
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

/**
 * Fails operations whose estimated cost exceeds maxCost. The estimate counts the objects a query can return:
 * each object-valued field costs 1, and the selections under a paged field (one with a `first` argument) count
 * `first` times (its default when absent). `first` given by a variable is read from `variables`, so this rule
 * runs at execution time, when the variables are known.
 */
export function createCostLimitRule(maxCost: number, variables: Record<string, unknown> = {}): ValidationRule {
  return function CostLimit(context: ValidationContext): ASTVisitor {
    const schema = context.getSchema();

    const pageSize = (field: FieldNode, definition: GraphQLField<unknown, unknown>, operation: OperationDefinitionNode): number => {
      const argument = field.arguments?.find((arg) => arg.name.value === "first");
      let value: unknown;
      if (argument?.value.kind === Kind.INT) value = Number(argument.value.value);
      else if (argument?.value.kind === Kind.VARIABLE) {
        const name = argument.value.name.value;
        value = variables[name];
        if (value === undefined) {
          const declared = operation.variableDefinitions?.find((definition) => definition.variable.name.value === name);
          if (declared?.defaultValue?.kind === Kind.INT) value = Number(declared.defaultValue.value);
        }
      }
      if (typeof value === "number" && Number.isFinite(value)) return Math.max(value, 0);
      const declaredDefault = definition.args.find((arg) => arg.name === "first")?.defaultValue;
      return typeof declaredDefault === "number" ? declaredDefault : DEFAULT_PAGE_SIZE;
    };

    const costOf = (
      selectionSet: SelectionSetNode | undefined,
      parentType: GraphQLNamedType | undefined | null,
      operation: OperationDefinitionNode,
      visited: Set<string>,
    ): number => {
      if (!selectionSet || !parentType) return 0;
      let total = 0;
      for (const selection of selectionSet.selections) {
        if (selection.kind === Kind.FIELD) {
          if (selection.name.value.startsWith("__") || !selection.selectionSet) continue;
          const definition =
            isObjectType(parentType) || isInterfaceType(parentType) ? parentType.getFields()[selection.name.value] : undefined;
          if (!definition) continue;
          const children = costOf(selection.selectionSet, getNamedType(definition.type), operation, visited);
          const multiplier = definition.args.some((arg) => arg.name === "first") ? pageSize(selection, definition, operation) : 1;
          total += 1 + multiplier * children;
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          const type = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) : parentType;
          total += costOf(selection.selectionSet, type, operation, visited);
        } else {
          const name = selection.name.value;
          const fragment = context.getFragment(name);
          if (!fragment || visited.has(name)) continue;
          const type = schema.getType(fragment.typeCondition.name.value);
          total += costOf(fragment.selectionSet, type, operation, new Set([...visited, name]));
        }
        if (total > maxCost) break;
      }
      return total;
    };

    return {
      OperationDefinition(operation) {
        const rootType = schema.getRootType(operation.operation);
        const cost = costOf(operation.selectionSet, rootType, operation, new Set());
        if (cost > maxCost) {
          context.reportError(
            new GraphQLError(
              `query cost ${cost} exceeds the limit of ${maxCost}: ask for smaller pages (first) or fewer nested lists`,
              { nodes: operation, extensions: { code: "QUERY_TOO_COSTLY", cost, maxCost } },
            ),
          );
        }
      },
    };
  };
}
