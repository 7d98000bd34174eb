import { redactUrl } from "../../internal/errors";
import { CliError } from "./errors";

/** The API could not answer: not running, not reachable, or not a GPU Mesh GraphQL endpoint. */
export class ApiUnavailableError extends CliError {
  constructor(message: string, cause?: unknown) {
    super(message, cause);
    this.name = "ApiUnavailableError";
  }
}

/** One GraphQL request to the indexer's API; errors in the response are thrown with their messages. */
export async function graphqlRequest<T>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  timeoutMs = 5_000,
): Promise<T> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new ApiUnavailableError(`cannot reach the GraphQL API at ${redactUrl(url)} (start it with \`gpumesh serve\` or \`gpumesh start\`, or set --api)`, error);
  }
  let body: { data?: T; errors?: Array<{ message: string }> };
  try {
    body = (await response.json()) as typeof body;
  } catch (error) {
    throw new ApiUnavailableError(`${redactUrl(url)} answered HTTP ${response.status} without GraphQL JSON`, error);
  }
  if (body.errors?.length) {
    throw new CliError(`GraphQL API: ${body.errors.map((error) => error.message).join("; ")}`);
  }
  if (!body.data) throw new ApiUnavailableError(`${redactUrl(url)} answered HTTP ${response.status} without data`);
  return body.data;
}
