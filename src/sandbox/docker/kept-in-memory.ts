// Where a launcher container with secrets keeps copies of its run's output and exit code in its own memory (tmpfs), for a server that adopts the run.
//
// Such a container's stream is kept by no engine log (the run could print a value: docs/security.md), so the launcher
// `tee`s the command's stdout and stderr into files on tmpfs mounts of their own, each as large as a result's log cap
// (the head of a larger stream is kept), and writes the trailer's data to a file once the command has ended: a server
// that adopts the run reads them with `cat` (adopted-memory-run.ts). docs/decisions.md, "Runs with secrets outlive their server".
import { RUN_GID, RUN_UID } from '../container-layout.ts';

/** The directory of the copies (a small tmpfs): the FIFOs the command writes to, and the exit file. */
export const KEPT_DIR = '/run/sandrun-kept';
/** Each stream's copy, alone on a tmpfs of the log cap's size: a flood on one cannot crowd out the other, or the exit file. */
export const KEPT_STDOUT = `${KEPT_DIR}/stdout/log`;
export const KEPT_STDERR = `${KEPT_DIR}/stderr/log`;
/** `exit-code has-outputs end-time` and a newline, written after the command and every process it left have ended. */
export const KEPT_EXIT = `${KEPT_DIR}/exit`;

/** How long the copies may wait, after the command, for processes it left that still hold its output open (then they are cut). */
export const KEPT_DRAIN_SECONDS = 5;

const OPTIONS = `rw,noexec,nosuid,nodev,uid=${RUN_UID},gid=${RUN_GID},mode=0700`;
const DIR_BYTES = 64 * 1024;

/** The tmpfs mounts of a launcher container whose run has secrets; they count against the run's memory. */
export function keptTmpfs(logCapBytes: number): Record<string, string> {
  return {
    [KEPT_DIR]: `${OPTIONS},size=${DIR_BYTES}`,
    [`${KEPT_DIR}/stdout`]: `${OPTIONS},size=${logCapBytes}`,
    [`${KEPT_DIR}/stderr`]: `${OPTIONS},size=${logCapBytes}`,
  };
}

export interface KeptExit {
  exitCode: number;
  hasOutputs: boolean;
  /** When the launcher wrote it (seconds since the epoch, by the container's clock: the host's); undefined without `date`. */
  endedAtSeconds: number | undefined;
}

/** The exit file's content: undefined until it is whole (it ends with a newline), or when it is not in this form. */
export function parseKeptExit(bytes: Buffer): KeptExit | undefined {
  const match = /^(\d{1,3}) ([01]) (\d{0,12})\n$/.exec(bytes.toString('latin1'));
  if (!match) return undefined;
  return { exitCode: Number(match[1]), hasOutputs: match[2] === '1', endedAtSeconds: match[3] ? Number(match[3]) : undefined };
}
