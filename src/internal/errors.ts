/** Base error of GPU Mesh: a short message, a machine-readable code, the cause, and whether a retry can help. */
export class GpuMeshError extends Error {
  readonly code: string;
  readonly retryable: boolean;

  constructor(message: string, options: { code: string; retryable?: boolean; cause?: unknown }) {
    super(message, { cause: options.cause });
    this.name = "GpuMeshError";
    this.code = options.code;
    this.retryable = options.retryable ?? false;
  }
}

/** Bad configuration or input: fatal, and the message says what to fix. */
export class ConfigError extends GpuMeshError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: "CONFIG", retryable: false, cause });
    this.name = "ConfigError";
  }
}

/**
 * Bad input named by where it came from (a CLI flag, a form field): the message names it. The CLI exits 2 on one
 * (src/cli/lib/errors.ts); the web app shows it beside the field.
 */
export class UsageError extends GpuMeshError {
  constructor(message: string) {
    super(message, { code: "USAGE" });
    this.name = "UsageError";
  }
}

/** Replaces credentials in URLs (user:password@, API keys in paths or query strings) so they never reach a log. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username || parsed.password) {
      parsed.username = "***";
      parsed.password = "";
    }
    for (const key of [...parsed.searchParams.keys()]) parsed.searchParams.set(key, "***");
    // Providers put keys in the last path segment (/v2/<key>, /v3/<key>).
    parsed.pathname = parsed.pathname.replace(/\/([A-Za-z0-9_-]{16,})(\/?)$/, "/***$2");
    return parsed.toString();
  } catch {
    return "<invalid url>";
  }
}

/** Redacts every URL inside a free-form message (error messages of HTTP clients quote the URL). */
export function redactUrlsIn(text: string): string {
  return text.replace(/(https?|wss?):\/\/[^\s"'<>]+/g, (url) => redactUrl(url));
}
