/**
 * What a command prints: human lines and tables, or with `--json` one JSON document on stdout (amounts as decimal
 * strings of base units, plus human strings where useful). Transaction hashes are printed as they are sent.
 */
export interface Output {
  readonly json: boolean;
  /** A line for humans (nothing in JSON mode). */
  line(text?: string): void;
  /** A sent transaction: printed at once for humans, collected under `transactions` in JSON mode. */
  tx(label: string, hash: string): void;
  /** A table for humans. */
  table(headers: string[], rows: string[][]): void;
  /** The command's result: printed as JSON in JSON mode (with the collected transactions), ignored otherwise. */
  result(data: Record<string, unknown> | unknown[]): void;
}

export function createOutput(json: boolean, write: (text: string) => void = (text) => process.stdout.write(text)): Output {
  const transactions: Array<{ label: string; hash: string }> = [];
  return {
    json,
    line(text = "") {
      if (!json) write(text + "\n");
    },
    tx(label, hash) {
      if (json) transactions.push({ label, hash });
      else write(`${label}: tx ${hash}\n`);
    },
    table(headers, rows) {
      if (!json) write(renderTable(headers, rows));
    },
    result(data) {
      if (!json) return;
      const document = Array.isArray(data) ? data : transactions.length ? { ...data, transactions } : data;
      write(toJson(document) + "\n");
    },
  };
}

/** JSON with bigints as decimal strings (uint256 never fits a JS number). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, item) => (typeof item === "bigint" ? item.toString() : item), 2);
}

/** Columns padded to their widest cell; numbers-looking columns right-aligned. */
export function renderTable(headers: string[], rows: string[][]): string {
  if (rows.length === 0) return "(none)\n";
  const widths = headers.map((header, column) => Math.max(header.length, ...rows.map((row) => (row[column] ?? "").length)));
  const numeric = headers.map((_, column) => rows.every((row) => /^[-+]?[\d.,]+(%| [A-Z]+)?$|^-$/.test(row[column] ?? "")));
  const render = (cells: string[]) =>
    cells
      .map((cell, column) => (numeric[column] ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!)))
      .join("  ")
      .trimEnd();
  return [render(headers), render(widths.map((width) => "-".repeat(width))), ...rows.map(render)].join("\n") + "\n";
}
