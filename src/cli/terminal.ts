// Where the CLI writes, and colour by status only for a person at a TTY who has not set NO_COLOR.
export interface Writer {
  write(text: string): unknown;
}

export interface Colours {
  green: (text: string) => string;
  red: (text: string) => string;
  yellow: (text: string) => string;
  dim: (text: string) => string;
  bold: (text: string) => string;
  /** Green for success, red for the failed terminal states, yellow while pending or running. */
  status: (status: string) => string;
}

/** Standard input, for a command that reads a value from it (`secrets set`). */
export interface Reader extends AsyncIterable<Buffer | string> {
  isTTY?: boolean;
}

export interface Terminal {
  /** Absent where there is nothing to read (a test's terminal). */
  stdin?: Reader;
  stdout: Writer;
  stderr: Writer;
  colours: Colours;
  /** Whether progress (a spinner) may be drawn on stderr: a TTY, and not a dumb terminal. */
  progress?: boolean;
}

const FAILED = new Set(['failed', 'timed_out', 'cancelled', 'error']);

export function createColours(enabled: boolean): Colours {
  const wrap = (open: number, close: number) => (text: string) => (enabled ? `\u001b[${open}m${text}\u001b[${close}m` : text);
  const green = wrap(32, 39);
  const red = wrap(31, 39);
  const yellow = wrap(33, 39);
  return {
    green,
    red,
    yellow,
    dim: wrap(2, 22),
    bold: wrap(1, 22),
    status: (status) => (status === 'success' ? green(status) : FAILED.has(status) ? red(status) : yellow(status)),
  };
}

export function processTerminal(env: NodeJS.ProcessEnv): Terminal {
  // https://no-color.org: any non-empty NO_COLOR turns colour off.
  const colour = process.stdout.isTTY === true && !env.NO_COLOR && env.TERM !== 'dumb';
  const progress = process.stderr.isTTY === true && env.TERM !== 'dumb';
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, colours: createColours(colour), progress };
}
