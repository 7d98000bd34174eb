import { GpuMeshError } from "../../internal/errors";

/** Exit codes of every command: 0 success, 1 runtime failure (a revert, an unreachable node), 2 bad usage. */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A failure at run time that the user can act on (a revert, a wrong password, a missing file); exits 1. */
export class CliError extends GpuMeshError {
  constructor(message: string, cause?: unknown) {
    super(message, { code: "CLI", cause });
    this.name = "CliError";
  }
}
