import pino from "pino";

export type Logger = pino.Logger;

/** Structured JSON logs on stderr (stdout stays free for command output). */
export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino(
    { level: options.level ?? process.env.GPUMESH_LOG_LEVEL ?? "info", name: options.name ?? "gpumesh" },
    pino.destination({ fd: 2, sync: true }),
  );
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
