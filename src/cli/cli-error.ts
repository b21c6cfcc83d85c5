// The CLI's failures and the exit code each one ends the process with.
export const EXIT = {
  success: 0,
  runFailed: 1,
  usage: 2,
  api: 3,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A failure the CLI reports in one message and ends with a known exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string): CliError => new CliError(message, EXIT.usage);

/** An error response of the server, kept whole so `--json` can print exactly what it said. */
export class ApiError extends CliError {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly serverMessage: string,
    readonly body: unknown,
  ) {
    super(`error (${code}): ${serverMessage}`, EXIT.api);
    this.name = 'ApiError';
  }
}
