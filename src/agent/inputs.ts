import dns from "node:dns";
import http from "node:http";
import https from "node:https";
import net from "node:net";
import { GpuMeshError } from "../internal/errors";

/**
 * Fetching a spec's inputs for the agent. A spec comes from any client, so its URLs must not reach what only the
 * provider's machine can: loopback, private networks, link-local (a cloud's metadata service at 169.254.169.254),
 * carrier-grade NAT, multicast and unspecified addresses are refused unless `policy.allowPrivateInputs` is set. The
 * address is checked where the connection is made (the socket's own DNS lookup), so a name that resolves to a public
 * address for a check and to a private one for the connection gains nothing, and every redirect is checked again.
 */

export class InputPolicyError extends GpuMeshError {
  constructor(message: string) {
    super(message, { code: "INPUT_REFUSED" });
    this.name = "InputPolicyError";
  }
}

const PRIVATE_V4: Array<[string, number]> = [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.0.0.0", 24],
  ["192.168.0.0", 16],
  ["198.18.0.0", 15],
  ["224.0.0.0", 4],
  ["240.0.0.0", 4],
];

const v4ToNumber = (ip: string) => ip.split(".").reduce((value, part) => value * 256 + Number(part), 0);

/** Whether an IP address is one a spec's input may be fetched from without allowPrivateInputs. */
export function isPublicAddress(ip: string): boolean {
  if (net.isIPv4(ip)) {
    const value = v4ToNumber(ip);
    return !PRIVATE_V4.some(([base, bits]) => Math.floor(value / 2 ** (32 - bits)) === Math.floor(v4ToNumber(base) / 2 ** (32 - bits)));
  }
  if (!net.isIPv6(ip)) return false;
  const lower = ip.toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (mapped) return isPublicAddress(mapped[1]!);
  if (lower === "::" || lower === "::1") return false;
  const first = parseInt(lower.split(":")[0] || "0", 16);
  // fc00::/7 unique local, fe80::/10 link-local, ff00::/8 multicast.
  return !((first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80 || (first & 0xff00) === 0xff00);
}

export interface InputFetchOptions {
  allowPrivate: boolean;
  maxBytes: number;
  timeoutMs: number;
  maxRedirects?: number;
}

/** GETs an http(s) input under the address policy, following at most `maxRedirects` redirects, each checked. */
export async function fetchInput(url: string, options: InputFetchOptions): Promise<Buffer> {
  let current = new URL(url);
  const deadline = Date.now() + options.timeoutMs;
  for (let hop = 0; hop <= (options.maxRedirects ?? 5); hop++) {
    if (current.protocol !== "https:" && current.protocol !== "http:") throw new InputPolicyError(`${current.protocol} URLs are not fetched (http and https only)`);
    const host = current.hostname.replace(/^\[|\]$/g, "");
    if (net.isIP(host) && !options.allowPrivate && !isPublicAddress(host)) {
      throw new InputPolicyError(`${host} is a loopback, private or link-local address (policy.allowPrivateInputs is off)`);
    }
    const answer = await get(current, options, Math.max(1, deadline - Date.now()));
    if (answer.location === undefined) return answer.body!;
    current = new URL(answer.location, current);
  }
  throw new InputPolicyError(`more than ${options.maxRedirects ?? 5} redirects`);
}

function get(url: URL, options: InputFetchOptions, timeoutMs: number): Promise<{ body?: Buffer; location?: string }> {
  const lookup: net.LookupFunction = (hostname, lookupOptions, callback) => {
    dns.lookup(hostname, { ...lookupOptions, all: true }, (error, addresses) => {
      if (error) return callback(error, "", 0);
      const list = addresses as dns.LookupAddress[];
      const refused = options.allowPrivate ? undefined : list.find((entry) => !isPublicAddress(entry.address));
      if (refused) return callback(new InputPolicyError(`${hostname} resolves to ${refused.address}, a loopback, private or link-local address (policy.allowPrivateInputs is off)`), "", 0);
      if ((lookupOptions as { all?: boolean }).all) return (callback as unknown as (e: null, a: dns.LookupAddress[]) => void)(null, list);
      callback(null, list[0]!.address, list[0]!.family);
    });
  };
  return new Promise((resolve, reject) => {
    const request = (url.protocol === "https:" ? https : http).get(url, { lookup }, (response) => {
      const status = response.statusCode ?? 0;
      if (status >= 300 && status < 400 && response.headers.location) {
        response.resume();
        return resolve({ location: response.headers.location });
      }
      if (status !== 200) {
        response.resume();
        return reject(new GpuMeshError(`answered HTTP ${status}`, { code: "INPUT_HTTP" }));
      }
      if (Number(response.headers["content-length"] ?? 0) > options.maxBytes) {
        response.destroy();
        return reject(new GpuMeshError("is larger than runner.maxOutputBytes", { code: "INPUT_TOO_LARGE" }));
      }
      const chunks: Buffer[] = [];
      let size = 0;
      response.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > options.maxBytes) {
          response.destroy();
          reject(new GpuMeshError("is larger than runner.maxOutputBytes", { code: "INPUT_TOO_LARGE" }));
        } else chunks.push(chunk);
      });
      response.on("end", () => {
        clearTimeout(timer);
        resolve({ body: Buffer.concat(chunks) });
      });
      response.on("error", reject);
    });
    const timer = setTimeout(() => request.destroy(new GpuMeshError(`took longer than ${Math.round(timeoutMs / 1000)} s`, { code: "INPUT_TIMEOUT" })), timeoutMs);
    request.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}
