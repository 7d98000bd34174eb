import fs from "node:fs";
import type http from "node:http";
import path from "node:path";
import zlib from "node:zlib";
import type { Deployment } from "../chain/deployment";
import { REPOSITORY_ROOT } from "../internal/paths";

/**
 * The web app's files, built by Vite (src/web/vite.config.mts) into build/web, served by the GraphQL server's
 * process beside /graphql: `gpumesh start`, `run` and `serve` all serve it at /, gzipped for browsers that accept
 * it. Paths never leave the build folder; a path that names no file and looks like a page of the app (no extension)
 * gets index.html, so that /providers/0x... can be reloaded or linked to.
 */

export const WEB_BUILD_DIR = path.join(REPOSITORY_ROOT, "build", "web");
/** What the app reads at start: which chain and contracts it talks to, in which token units. */
export const WEB_CONFIG_PATH = "/web-config.json";

export interface WebHandlerOptions {
  /** Folder of the built app (default build/web). */
  root?: string;
  /** The deployment the indexer follows; absent for `gpumesh serve`, whose app then shows raw base units. */
  deployment?: Deployment;
  /** The indexer's RPC endpoints: a loopback one without credentials is offered to wallets that lack the chain. */
  rpcUrls?: readonly string[];
}

/** Handles a GET or HEAD of a path: true when it answered (a file, the SPA fallback, a 404 of a missing asset). */
export type WebHandler = (request: http.IncomingMessage, response: http.ServerResponse, path: string) => boolean;

/** The deployment's facts a browser needs: chain, contract and token addresses, token units, GPU models. */
export interface WebConfig {
  chainId: number | null;
  /** What wallet_addEthereumChain offers a wallet that does not know the chain (a local dev chain only). */
  walletRpcUrl?: string;
  deployment: Pick<Deployment, "chainId" | "contracts" | "tokens" | "stakePerPaymentUnit" | "gpuModels"> | null;
}

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".woff": "font/woff",
  ".txt": "text/plain; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".webmanifest": "application/manifest+json",
};

const COMPRESSIBLE = new Set([".html", ".js", ".mjs", ".css", ".json", ".svg", ".txt", ".map", ".webmanifest"]);

interface CachedFile {
  mtimeMs: number;
  size: number;
  body: Buffer;
  gzipped?: Buffer;
}

const NOT_BUILT_PAGE = `<!doctype html><html lang="en"><meta charset="utf-8"><title>GPU Mesh</title>
<body style="font-family:system-ui;margin:2rem"><h1>GPU Mesh</h1>
<p>The web app is not built in this checkout: run <code>npm run build:web</code>, then reload.</p>
<p>The GraphQL API is at <a href="/graphql">/graphql</a>.</p></body></html>`;

/** Only a local node's URL is shown to browsers: a remote one may carry an API key in its path or query. */
function isLoopbackWithoutCredentials(url: string): boolean {
  try {
    const parsed = new URL(url);
    const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(parsed.hostname);
    return loopback && /^https?:$/.test(parsed.protocol) && !parsed.username && !parsed.password && !parsed.search;
  } catch {
    return false;
  }
}

export function createWebHandler(options: WebHandlerOptions = {}): WebHandler {
  const root = path.resolve(options.root ?? WEB_BUILD_DIR);
  const deployment = options.deployment;
  const config: WebConfig = {
    chainId: deployment?.chainId ?? null,
    deployment: deployment
      ? {
          chainId: deployment.chainId,
          contracts: deployment.contracts,
          tokens: deployment.tokens,
          stakePerPaymentUnit: deployment.stakePerPaymentUnit,
          gpuModels: deployment.gpuModels,
        }
      : null,
  };
  const walletRpcUrl = options.rpcUrls?.find(isLoopbackWithoutCredentials);
  if (walletRpcUrl) config.walletRpcUrl = walletRpcUrl;
  const configBody = JSON.stringify(config);

  const send = (
    request: http.IncomingMessage,
    response: http.ServerResponse,
    status: number,
    headers: Record<string, string>,
    body: Buffer | string,
  ) => {
    response.writeHead(status, { ...headers, "content-length": String(Buffer.byteLength(body)), "x-content-type-options": "nosniff" });
    response.end(request.method === "HEAD" ? undefined : body);
  };

  // Read and gzipped once per build: a rebuild while the server runs changes the mtime and is picked up.
  const cache = new Map<string, CachedFile>();
  const readCached = (file: string, compressible: boolean): CachedFile => {
    const stat = fs.statSync(file);
    let entry = cache.get(file);
    if (!entry || entry.mtimeMs !== stat.mtimeMs || entry.size !== stat.size) {
      entry = { mtimeMs: stat.mtimeMs, size: stat.size, body: fs.readFileSync(file) };
      if (compressible && entry.body.length > 1024) entry.gzipped = zlib.gzipSync(entry.body, { level: 9 });
      cache.set(file, entry);
    }
    return entry;
  };
  const sendFile = (request: http.IncomingMessage, response: http.ServerResponse, file: string, headers: Record<string, string>) => {
    const compressible = COMPRESSIBLE.has(path.extname(file).toLowerCase());
    const entry = readCached(file, compressible);
    const acceptsGzip = /\bgzip\b/.test(String(request.headers["accept-encoding"] ?? ""));
    const vary: Record<string, string> = compressible ? { vary: "accept-encoding" } : {};
    if (entry.gzipped && acceptsGzip) send(request, response, 200, { ...headers, ...vary, "content-encoding": "gzip" }, entry.gzipped);
    else send(request, response, 200, { ...headers, ...vary }, entry.body);
  };

  /** A regular file strictly inside root, or null: no "..", no absolute or encoded escapes, no symlinks out. */
  const resolveFile = (urlPath: string): string | null => {
    let decoded: string;
    try {
      decoded = decodeURIComponent(urlPath);
    } catch {
      return null;
    }
    if (decoded.includes("\0") || decoded.includes("\\")) return null;
    const candidate = path.resolve(root, "." + path.posix.normalize("/" + decoded));
    if (candidate !== root && !candidate.startsWith(root + path.sep)) return null;
    try {
      const real = fs.realpathSync(candidate);
      if (real !== root && !real.startsWith(fs.realpathSync(root) + path.sep)) return null;
      return fs.statSync(real).isFile() ? real : null;
    } catch {
      return null;
    }
  };

  return (request, response, urlPath) => {
    if (urlPath === WEB_CONFIG_PATH) {
      send(request, response, 200, { "content-type": CONTENT_TYPES[".json"]!, "cache-control": "no-store" }, configBody);
      return true;
    }
    const indexFile = path.join(root, "index.html");
    const file = urlPath === "/" ? null : resolveFile(urlPath);
    if (file) {
      const type = CONTENT_TYPES[path.extname(file).toLowerCase()] ?? "application/octet-stream";
      // Vite names built assets by content hash: they never change under the same name.
      const immutable = urlPath.startsWith("/assets/");
      sendFile(request, response, file, { "content-type": type, "cache-control": immutable ? "public, max-age=31536000, immutable" : "no-cache" });
      return true;
    }
    // A missing asset (a path with an extension) is a 404, not the page: a browser would otherwise parse HTML as script.
    if (path.posix.extname(urlPath) !== "") {
      send(request, response, 404, { "content-type": CONTENT_TYPES[".txt"]!, "cache-control": "no-store" }, "not found\n");
      return true;
    }
    const pageHeaders = { "content-type": CONTENT_TYPES[".html"]!, "cache-control": "no-cache" };
    if (fs.existsSync(indexFile)) sendFile(request, response, indexFile, pageHeaders);
    else send(request, response, 200, pageHeaders, NOT_BUILT_PAGE);
    return true;
  };
}
