// The launcher a run's container is parked on, and the host's side of its protocol over the container's stdio.
//
// A container starts `sh -c LAUNCHER` (under the engine's init), says on stdout whether the image has `tar` and
// whether it will keep copies of the run's output in memory (the ready line: only a container mounted for a run with
// secrets does, see kept-in-memory.ts; the command then writes through `tee`), and waits on its stdin. The run's trigger is a
// line with a fresh nonce, a shell script that sets the environment and the command (`set -- ...`), and the nonce
// again. The launcher then prints an acknowledgement on stdout, runs the command in its own session with stdin
// from /dev/null, kills every process left (`kill -9 -1`: all of the run's user), and closes each stream with a
// marker: stderr gets `RS nonce LF`, stdout `RS nonce SP exit-code SP has-outputs RS LF` (the trailer). Everything the
// run's processes wrote precedes the markers, since they are dead when the markers are written. The trigger ends with
// the host's request for /outputs (`tar LF`, read only after the trailer), so when /outputs has anything the launcher
// writes the frame on stdout right after the trailer, without a round trip: the raw tar of /outputs (`tar -c -C
// /outputs .`, as the run's user), then `RS nonce SP tar SP tar's-exit-code SP the first line of tar's complaints RS
// LF` (why RS: lineAfterMarker).
// The host reads the run's usage as the trailer arrives, so the few milliseconds of that `tar` may count in it. The
// launcher then waits on stdin until the host removes the container. Should the host's connection end first (a proxy
// in front of the engine dropping it, the server dying), stdin ends: the launcher writes the frame all the same (into
// the container's kept log, where a server adopting the run reads it: adopted-run.ts), then lingers a bounded while,
// so that the usage and /outputs (a tmpfs, for an exec) can still be read.
//
// The launcher runs as the run's user, so a run could forge its own markers; it can gain nothing by it (its exit
// code and outputs are its own to choose), and the nonce keeps output that merely looks alike from matching. Nothing
// it printed is ever read as the frame: the frame is read only after the trailer, and it starts after the run's
// processes are dead. Inside the frame, the end marker is searched for in the tar's bytes, so a file whose content
// holds it (which needs the nonce) can only cut the run's own outputs short.
import { randomBytes } from 'node:crypto';
import { shellQuote } from '../../shell-quote.ts';
import { KILL_LEFT_PROCESSES, RUN_COMMAND, SUPERVISOR_LINGER_SECONDS } from '../command-shell.ts';
import { HAS_OUTPUTS, KEEP_IF_ABLE, RUN_COMMAND_KEPT, WRITE_KEPT_EXIT } from '../kept-in-memory.ts';

/**
 * How long a launcher whose host connection is gone stays after its command (and the frame): the cgroup (usage) and
 * /outputs (the exec fallback) stay readable meanwhile, by this server or by the one that adopts the run (adopted-run.ts).
 */
export const LAUNCHER_LINGER_SECONDS = SUPERVISOR_LINGER_SECONDS;

export const LAUNCHER_SCRIPT = `if command -v tar >/dev/null; then sandrun_tar=tar; else sandrun_tar=-; fi
${KEEP_IF_ABLE}
printf '\\036ready %s%s\\n' "$sandrun_tar" "$sandrun_keep"
IFS= read -r nonce || exit 125
script=
while IFS= read -r line; do
  [ "$line" = "$nonce" ] && break
  script="$script$line
"
done
[ "$line" = "$nonce" ] || exit 125
eval "$script"
printf '\\036%s\\n' "$nonce"
if [ -z "$sandrun_keep" ]; then
${RUN_COMMAND}
code=$?
else
${RUN_COMMAND_KEPT}
fi
${KILL_LEFT_PROCESSES}
${HAS_OUTPUTS}
[ -z "$sandrun_keep" ] || ${WRITE_KEPT_EXIT}
printf '\\036%s\\n' "$nonce" >&2
printf '\\036%s %s %s\\036\\n' "$nonce" "$code" "$has"
IFS= read -r go || go=tar
if [ "$go" = tar ] && [ "$has" = 1 ]; then
  { err=$(tar -c -f - -C /outputs . 2>&1 >&3); } 3>&1
  tarcode=$?
  err=\${err%%"
"*}
  printf '\\036%s tar %s %.200s\\036\\n' "$nonce" "$tarcode" "$err"
fi
read -r _ || sleep ${LAUNCHER_LINGER_SECONDS}
`;

export const LAUNCHER_COMMAND = ['sh', '-c', LAUNCHER_SCRIPT, 'sandrun-launcher'];

const RECORD_SEPARATOR = 0x1e;
const LINE_FEED = 0x0a;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const TRAILER_MAX_BYTES = 64;
/** The frame's end line: `tar`'s exit code and at most 200 bytes of its first complaint. */
const FRAME_END_MAX_BYTES = 256;
/** The line after the trigger that has the launcher write the frame (when /outputs has anything) after the trailer. */
const FRAME_REQUEST = 'tar';

/** The launcher's first line, before any trigger (so no run can have written it): whether the image has `tar`. */
const READY_PREFIX = Buffer.from('\x1eready ');
const READY_MAX_BYTES = 32;

export type ReadyLineParse = { kind: 'partial' } | { kind: 'ready'; hasTar: boolean; keepsInMemory: boolean; rest: Buffer } | { kind: 'none' };

/**
 * Reads the ready line at the start of a parked container's stdout: complete, still partial, or not there. Its
 * second word, `memory`, says the launcher will keep copies of its run's output in memory (kept-in-memory.ts).
 */
export function parseReadyLine(bytes: Buffer): ReadyLineParse {
  const compared = Math.min(bytes.length, READY_PREFIX.length);
  if (!bytes.subarray(0, compared).equals(READY_PREFIX.subarray(0, compared))) return { kind: 'none' };
  const end = bytes.indexOf(0x0a);
  if (end === -1) return bytes.length > READY_MAX_BYTES ? { kind: 'none' } : { kind: 'partial' };
  const match = /^(tar|-)( memory)?$/.exec(bytes.subarray(READY_PREFIX.length, end).toString('latin1'));
  if (!match) return { kind: 'none' };
  return { kind: 'ready', hasTar: match[1] === 'tar', keepsInMemory: match[2] !== undefined, rest: bytes.subarray(end + 1) };
}

export function newNonce(): string {
  return randomBytes(16).toString('hex');
}


/** What the host writes on the container's stdin to start the run's command, and to have its /outputs framed after it. */
export function triggerPayload(nonce: string, command: string[], env: string[]): string {
  if (command.length === 0) throw new Error('the command is empty');
  const exports = env.map((entry) => {
    const eq = entry.indexOf('=');
    const name = entry.slice(0, eq);
    if (eq <= 0 || !ENV_NAME.test(name)) throw new Error(`'${name}' is not a valid environment variable name`);
    return `export ${name}=${shellQuote(entry.slice(eq + 1))}`;
  });
  return [nonce, ...exports, `set -- ${command.map(shellQuote).join(' ')}`, nonce, FRAME_REQUEST, ''].join('\n');
}

export type ByteSink = (bytes: Buffer) => void;

/**
 * Passes a stream's bytes on until a marker, and keeps what follows it. Bytes that could be the start of the
 * marker are held back until the next chunk tells; the marker starts with RS (0x1e), which ordinary output
 * rarely ends on, so live output is almost never held.
 */
export class MarkerSplitter {
  private held: Buffer = Buffer.alloc(0);
  private after: Buffer | undefined;

  constructor(
    private readonly marker: Buffer,
    private readonly pass: ByteSink,
    /** Called once, when the marker has been seen. */
    private readonly onFound: () => void = () => {},
  ) {
    if (marker[0] !== RECORD_SEPARATOR || marker.indexOf(RECORD_SEPARATOR, 1) !== -1) throw new Error('a marker starts with RS and has no other');
  }

  /** The bytes after the marker (possibly empty) once it has been seen, else undefined. */
  get rest(): Buffer | undefined {
    return this.after;
  }

  push(chunk: Buffer): void {
    if (this.after) {
      this.after = Buffer.concat([this.after, chunk]);
      return;
    }
    const bytes = this.held.length > 0 ? Buffer.concat([this.held, chunk]) : chunk;
    this.held = Buffer.alloc(0);
    const found = bytes.indexOf(this.marker);
    if (found !== -1) {
      if (found > 0) this.pass(bytes.subarray(0, found));
      this.after = Buffer.from(bytes.subarray(found + this.marker.length));
      this.onFound();
      return;
    }
    // Only a suffix starting at the last RS can be the start of the marker.
    const lastSeparator = bytes.lastIndexOf(RECORD_SEPARATOR, bytes.length - 1);
    const keep =
      lastSeparator !== -1 && bytes.length - lastSeparator < this.marker.length && this.marker.subarray(0, bytes.length - lastSeparator).equals(bytes.subarray(lastSeparator))
        ? bytes.length - lastSeparator
        : 0;
    if (bytes.length - keep > 0) this.pass(bytes.subarray(0, bytes.length - keep));
    if (keep > 0) this.held = Buffer.from(bytes.subarray(bytes.length - keep));
  }

  /** The stream ended without the marker: whatever was held back was output after all. */
  flush(): void {
    if (!this.after && this.held.length > 0) this.pass(this.held);
    this.held = Buffer.alloc(0);
  }
}

export interface LauncherExit {
  exitCode: number;
  /** False when the launcher saw /outputs empty: nothing to read. */
  hasOutputs: boolean;
}

/** The launcher's stdout: acknowledgement, the run's stdout, then the trailer with the exit code. */
export class LauncherStdout {
  private readonly ack: Buffer;
  private ackSeen = 0;
  private readonly splitter: MarkerSplitter;
  private exit: LauncherExit | undefined;
  private invalid: string | undefined;
  private frame: LauncherFrame | undefined;
  /** The trailer ended with RS: the LF after it (when the log kept it) is not the frame's. */
  private lineFeedMayFollow = false;

  constructor(
    nonce: string,
    pass: ByteSink,
    private readonly onAck: () => void,
    /** Called once, when the trailer is complete or the protocol is broken: nothing more will be read. */
    private readonly onSettled: () => void = () => {},
  ) {
    this.ack = Buffer.from(`\x1e${nonce}\n`);
    this.splitter = new MarkerSplitter(Buffer.from(`\x1e${nonce} `), pass);
  }

  get acknowledged(): boolean {
    return this.ackSeen === this.ack.length;
  }

  /** The command's exit once the trailer is complete. */
  get result(): LauncherExit | undefined {
    return this.exit;
  }

  /** Set when the launcher's stdout broke the protocol (then nothing more is read from it). */
  get protocolError(): string | undefined {
    return this.invalid;
  }

  /** Bytes after the trailer go to `frame`: set before the trailer arrives (the launcher writes the frame at once after it). */
  readFrame(frame: LauncherFrame): void {
    this.frame = frame;
  }

  push(chunk: Buffer): void {
    if (this.exit) return this.pushAfterTrailer(chunk);
    if (this.invalid) return;
    let bytes = chunk;
    if (!this.acknowledged) {
      const take = Math.min(this.ack.length - this.ackSeen, bytes.length);
      if (!bytes.subarray(0, take).equals(this.ack.subarray(this.ackSeen, this.ackSeen + take))) {
        return this.settle({ invalid: `the launcher did not acknowledge the run (it printed ${JSON.stringify(bytes.subarray(0, 80).toString('utf8'))})` });
      }
      this.ackSeen += take;
      bytes = bytes.subarray(take);
      if (!this.acknowledged) return;
      this.onAck();
    }
    this.splitter.push(bytes);
    const trailer = lineAfterMarker(this.splitter.rest, TRAILER_MAX_BYTES);
    if (trailer === undefined) return;
    if (trailer === 'too long') return this.settle({ invalid: 'the launcher’s trailer is too long' });
    const match = /^(\d{1,3}) ([01])$/.exec(trailer.line.toString('latin1'));
    if (!match) return this.settle({ invalid: `the launcher’s trailer is malformed: ${JSON.stringify(trailer.line.toString('latin1'))}` });
    this.settle({ exit: { exitCode: Number(match[1]), hasOutputs: match[2] === '1' } });
    this.lineFeedMayFollow = trailer.endedBy === 'RS';
    this.pushAfterTrailer(this.splitter.rest!.subarray(trailer.line.length + 1));
  }

  /** Bytes after the trailer go to the frame reader (a tar, which never starts with LF); without one, nobody wants them. */
  private pushAfterTrailer(bytes: Buffer): void {
    if (bytes.length === 0) return;
    const skip = this.lineFeedMayFollow && bytes[0] === LINE_FEED ? 1 : 0;
    this.lineFeedMayFollow = false;
    if (bytes.length > skip) this.frame?.push(bytes.subarray(skip));
  }

  private settle(how: { exit: LauncherExit } | { invalid: string }): void {
    if ('exit' in how) this.exit = how.exit;
    else this.invalid = how.invalid;
    this.onSettled();
  }

  /** The stream ended: output held back in case it was the start of the trailer was output after all. */
  end(): void {
    if (!this.exit) this.splitter.flush();
  }
}

/** How the frame ended: tar's exit code and the first line of what it complained of. */
export interface FrameEnd {
  tarStatus: number;
  message: string;
}

/**
 * The frame on the launcher's stdout after the trailer: the tar's bytes go to `tar` until the end marker (searched
 * for in them, as anywhere), then the end line. `onEnd` is called once, with the end or the reason the frame broke.
 */
export class LauncherFrame {
  private readonly splitter: MarkerSplitter;
  private settled = false;

  constructor(
    nonce: string,
    tar: ByteSink,
    private readonly onEnd: (end: FrameEnd | { invalid: string }) => void,
  ) {
    this.splitter = new MarkerSplitter(Buffer.from(`\x1e${nonce} tar `), tar);
  }

  push(chunk: Buffer): void {
    if (this.settled) return;
    this.splitter.push(chunk);
    const end = lineAfterMarker(this.splitter.rest, FRAME_END_MAX_BYTES);
    if (end === undefined) return;
    if (end === 'too long') return this.settle({ invalid: 'the end of the outputs frame is too long' });
    const match = /^(\d{1,3})(?: ([^]*))?$/.exec(end.line.toString('utf8'));
    if (!match) this.settle({ invalid: `the end of the outputs frame is malformed: ${JSON.stringify(end.line.toString('latin1'))}` });
    else this.settle({ tarStatus: Number(match[1]), message: match[2] ?? '' });
  }

  private settle(end: FrameEnd | { invalid: string }): void {
    this.settled = true;
    this.onEnd(end);
  }
}

/**
 * The line a MarkerSplitter holds after its marker: undefined until it is whole, 'too long' once past maxBytes without
 * an end. It ends at RS or LF: the launcher ends its trailer and the frame's end with RS LF, because the engine's
 * `local` log (what a server adopting the run reads) loses the LF that ends a line longer than 16 KiB (Docker 20.10),
 * as the trailer's is after a long unterminated line of the run's output, or the frame end's after a tar. An older
 * launcher's lines end at LF alone.
 */
function lineAfterMarker(rest: Buffer | undefined, maxBytes: number): { line: Buffer; endedBy: 'RS' | 'LF' } | 'too long' | undefined {
  if (!rest) return undefined;
  for (let i = 0; i < rest.length && i <= maxBytes; i += 1) {
    if (rest[i] === RECORD_SEPARATOR) return { line: rest.subarray(0, i), endedBy: 'RS' };
    if (rest[i] === LINE_FEED) return { line: rest.subarray(0, i), endedBy: 'LF' };
  }
  return rest.length > maxBytes ? 'too long' : undefined;
}

/**
 * The marker that ends the launcher's stderr (`RS nonce`, then LF): matched without its LF, which the engine's `local`
 * log loses after a long unterminated line of the run's stderr (see lineAfterMarker).
 */
export function stderrEndMarker(nonce: string): Buffer {
  return Buffer.from(`\x1e${nonce}`);
}
