import { useEffect, useState } from "preact/hooks";

/** How often live figures are asked again; the server answers repeats from its cache until a new block is indexed. */
export const POLL_INTERVAL_MS = 2_000;

/** The API refused a query or could not be reached: the message is the API's own. */
export class ApiError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ApiError";
  }
}

/** One GraphQL request to this origin's /graphql. */
export async function gql<T>(query: string, variables?: Record<string, unknown>, signal?: AbortSignal): Promise<T> {
  const response = await fetch("/graphql", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ query, variables }),
    signal,
  });
  const body = (await response.json().catch(() => ({}))) as { data?: T; errors?: Array<{ message: string }> };
  if (body.errors?.length) throw new ApiError(body.errors.map((error) => error.message).join("; "));
  if (!response.ok || body.data === undefined) throw new ApiError(`the API answered HTTP ${response.status}`);
  return body.data;
}

export interface Polled<T> {
  data?: T;
  error?: string;
  /** Unix milliseconds of the last answer. */
  updatedAtMs?: number;
}

/**
 * A query asked again every `intervalMs` while the page is visible: figures move without a reload. The last good
 * answer stays on screen while a new one is on its way or when one fails.
 */
export function usePolled<T>(query: string, variables?: Record<string, unknown>, intervalMs = POLL_INTERVAL_MS): Polled<T> {
  const key = JSON.stringify(variables ?? {});
  const [state, setState] = useState<Polled<T>>({});
  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const ask = async () => {
      if (document.visibilityState !== "hidden") {
        try {
          const data = await gql<T>(query, variables, controller.signal);
          if (!controller.signal.aborted) setState({ data, updatedAtMs: Date.now() });
        } catch (error) {
          if (controller.signal.aborted) return;
          setState((previous) => ({ ...previous, error: error instanceof Error ? error.message : String(error) }));
        }
      }
      if (!controller.signal.aborted) timer = setTimeout(ask, intervalMs);
    };
    void ask();
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
    // `key` stands for `variables`, compared by value.
  }, [query, key, intervalMs]);
  return state;
}
