import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

/**
 * The result archive: a ustar of the job's outputs, written the same way every time (sorted names, mtime 0, mode
 * 0644, uid/gid 0) so that the same outputs always give the same sha256, the job's on-chain resultHash.
 */

export interface ArchiveEntry {
  /** Path inside the archive (and below the job's working directory). */
  path: string;
  data: Buffer;
}

function header(name: string, size: number): Buffer {
  const block = Buffer.alloc(512);
  const nameBytes = Buffer.from(name, "utf8");
  // ustar: names up to 100 bytes, or a prefix of up to 155 bytes split at a "/".
  let prefix = Buffer.alloc(0);
  let base = nameBytes;
  if (nameBytes.length > 100) {
    const cut = name.lastIndexOf("/", 155);
    if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) throw new Error(`output path too long for the archive: ${name}`);
    prefix = Buffer.from(name.slice(0, cut));
    base = Buffer.from(name.slice(cut + 1));
  }
  base.copy(block, 0);
  const octal = (value: number, length: number) => value.toString(8).padStart(length - 1, "0") + "\0";
  block.write(octal(0o644, 8), 100, "ascii");
  block.write(octal(0, 8), 108, "ascii");
  block.write(octal(0, 8), 116, "ascii");
  block.write(octal(size, 12), 124, "ascii");
  block.write(octal(0, 12), 136, "ascii");
  block.write("        ", 148, "ascii");
  block.write("0", 156, "ascii");
  block.write("ustar\0", 257, "ascii");
  block.write("00", 263, "ascii");
  prefix.copy(block, 345);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "ascii");
  return block;
}

export function buildTar(entries: ArchiveEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    parts.push(header(entry.path, entry.data.length), entry.data);
    const padding = (512 - (entry.data.length % 512)) % 512;
    if (padding) parts.push(Buffer.alloc(padding));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export function sha256Hex(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * The files of `outputs` (paths relative to `workDir`; a directory means every file below it), sorted. Symlinks are
 * skipped: a workload could point one at a file of the host. Anything outside `workDir` is never read.
 */
export function collectOutputs(workDir: string, outputs: string[]): ArchiveEntry[] {
  const root = fs.realpathSync(workDir);
  const found = new Map<string, string>();
  const visit = (absolute: string) => {
    let stat: fs.Stats;
    try {
      stat = fs.lstatSync(absolute);
    } catch {
      return;
    }
    if (stat.isSymbolicLink()) return;
    if (stat.isDirectory()) {
      for (const name of fs.readdirSync(absolute)) visit(path.join(absolute, name));
    } else if (stat.isFile()) {
      const relative = path.relative(root, absolute).split(path.sep).join("/");
      if (!relative.startsWith("..")) found.set(relative, absolute);
    }
  };
  for (const output of outputs) {
    const absolute = path.resolve(root, output);
    if (absolute !== root && !absolute.startsWith(root + path.sep)) continue;
    visit(absolute);
  }
  return [...found.keys()].sort().map((relative) => ({ path: relative, data: fs.readFileSync(found.get(relative)!) }));
}

/** The file entries of a ustar written by buildTar (or any ustar of regular files). */
export function parseTar(archive: Buffer): ArchiveEntry[] {
  const entries: ArchiveEntry[] = [];
  let offset = 0;
  while (offset + 512 <= archive.length) {
    const block = archive.subarray(offset, offset + 512);
    if (block.every((byte) => byte === 0)) break;
    const text = (start: number, length: number) => block.toString("utf8", start, start + length).replace(/\0.*$/s, "");
    const name = text(0, 100);
    const prefix = text(345, 155);
    const size = parseInt(text(124, 12).trim() || "0", 8);
    const data = archive.subarray(offset + 512, offset + 512 + size);
    if (text(156, 1) === "0" || text(156, 1) === "") entries.push({ path: prefix ? `${prefix}/${name}` : name, data: Buffer.from(data) });
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return entries;
}
