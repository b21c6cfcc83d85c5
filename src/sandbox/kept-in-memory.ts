// Where the supervisor of a run with secrets (the Docker launcher, the swarm wrapper) keeps copies of its output and exit code in its container's memory (tmpfs), for a server that adopts the run.
//
// Such a container's stream is kept by no engine log (the run could print a value: docs/security.md), so the
// supervisor `tee`s the command's stdout and stderr into files on tmpfs mounts of their own, each as large as a
// result's log cap (the head of a larger stream is kept), and writes the exit's data to a file once the command has
// ended: a server that adopts the run reads them with `cat` (kept-copies.ts). docs/decisions.md, "Runs with secrets
// outlive their server".
import { RUN_GID, RUN_UID } from './container-layout.ts';
import { RUN_COMMAND } from './command-shell.ts';

/** The directory of the copies (a small tmpfs): the FIFOs the command writes to, and the exit file. */
export const KEPT_DIR = '/run/sandrun-kept';
/** Each stream's copy, alone on a tmpfs of the log cap's size: a flood on one cannot crowd out the other, or the exit file. */
export const KEPT_STDOUT = `${KEPT_DIR}/stdout/log`;
export const KEPT_STDERR = `${KEPT_DIR}/stderr/log`;
/** `exit-code has-outputs end-time` and a newline, written after the command and every process it left have ended. */
export const KEPT_EXIT = `${KEPT_DIR}/exit`;
/** The FIFO the command's stdout goes to: there, the supervisor keeps copies (made before the command, left after it). */
export const KEPT_STDOUT_FIFO = `${KEPT_DIR}/stdout.fifo`;
const KEPT_STDERR_FIFO = `${KEPT_DIR}/stderr.fifo`;

/** How long the copies may wait, after the command, for processes it left that still hold its output open (then they are cut). */
export const KEPT_DRAIN_SECONDS = 5;

const OPTIONS = `rw,noexec,nosuid,nodev,uid=${RUN_UID},gid=${RUN_GID},mode=0700`;
/** The size of the tmpfs at KEPT_DIR (the FIFOs and the exit file). */
const KEPT_DIR_BYTES = 64 * 1024;

/**
 * Shell: sets `sandrun_keep` to ' memory' when the container has the copies' mounts (only one of a run with secrets
 * does) and the image `mkfifo` and `tee` (the FIFOs are then made), else to nothing.
 */
export const KEEP_IF_ABLE = `sandrun_keep=
if [ -d "${KEPT_DIR}/stdout" ] && [ -d "${KEPT_DIR}/stderr" ] && command -v mkfifo >/dev/null && command -v tee >/dev/null && mkfifo "${KEPT_STDOUT_FIFO}" "${KEPT_STDERR_FIFO}" 2>/dev/null; then sandrun_keep=' memory'; fi`;

/**
 * Shell, where KEEP_IF_ABLE kept: runs the command (RUN_COMMAND) with its stdout and stderr copied into the kept files
 * on their way to the supervisor's own, sets `code`, and waits (bounded) until the copies have all of it.
 */
export const RUN_COMMAND_KEPT = `tee ${KEPT_STDOUT} <"${KEPT_STDOUT_FIFO}" 2>/dev/null & sandrun_out=$!
tee ${KEPT_STDERR} <"${KEPT_STDERR_FIFO}" >&2 2>/dev/null & sandrun_err=$!
{ ${RUN_COMMAND}; } >"${KEPT_STDOUT_FIFO}" 2>"${KEPT_STDERR_FIFO}"
code=$?
(sleep ${KEPT_DRAIN_SECONDS}; kill $sandrun_out $sandrun_err) 2>/dev/null & sandrun_drain=$!
wait $sandrun_out $sandrun_err 2>/dev/null
kill $sandrun_drain 2>/dev/null`;

/** Shell: sets `has` to 1 when /outputs holds anything, else 0. */
export const HAS_OUTPUTS = `has=0
for f in /outputs/* /outputs/.[!.]* /outputs/..?*; do
  if [ -e "$f" ] || [ -L "$f" ]; then has=1; break; fi
done`;

/** Shell: writes the exit file (parseKeptExit) from `code` and `has`, once the command and every process it left have ended. */
export const WRITE_KEPT_EXIT = `printf '%s %s %s\\n' "$code" "$has" "$(date +%s 2>/dev/null)" >${KEPT_EXIT}`;

/** The copies' tmpfs mounts (path → size in bytes) of a supervisor whose run has secrets; they count against the run's memory. */
export function keptMounts(logCapBytes: number): Record<string, number> {
  return { [KEPT_DIR]: KEPT_DIR_BYTES, [`${KEPT_DIR}/stdout`]: logCapBytes, [`${KEPT_DIR}/stderr`]: logCapBytes };
}

/** keptMounts as a launcher container's Tmpfs (owned by the run's user, 0700). */
export function keptTmpfs(logCapBytes: number): Record<string, string> {
  return Object.fromEntries(Object.entries(keptMounts(logCapBytes)).map(([path, bytes]) => [path, `${OPTIONS},size=${bytes}`]));
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
