// Reads a run's /outputs from its launcher's own stream: asked for after the command's exit, framed on stdout, parsed as it arrives.
import { STOP_SIGNAL } from '../backend.ts';
import { OutputsTarStream } from '../outputs-stream.ts';
import { withTarStatus, type ArtifactCapture, type OutputsLimits, type OutputsReadResult } from '../outputs.ts';
import { FRAME_REQUEST, LauncherFrame, type FrameEnd, type LauncherStdout } from './launcher-protocol.ts';
import type { OutputsReader } from './outputs-reader.ts';
import type { ParkedContainer } from './parked-container.ts';

/** How long the frame may take, from the host's request to its end line. */
const FRAME_TIMEOUT_MS = 15_000;

type FrameOutcome = FrameEnd | { invalid: string } | { lost: true };

export class LauncherOutputs {
  constructor(
    private readonly limits: OutputsLimits,
    /** The exec that reads /outputs, for a stream to the engine that ended before the frame did. */
    private readonly fallback: OutputsReader,
  ) {}

  /** Asks the launcher (whose trailer said /outputs has something) for the frame, and reads it under the caps. */
  async read(parked: ParkedContainer, stdout: LauncherStdout, nonce: string, capture?: ArtifactCapture): Promise<OutputsReadResult> {
    const { container, session } = parked;
    // Past the cap the writer is stopped at once: the rest of a large /outputs is never read.
    const stopWriter = () => void container.kill({ signal: STOP_SIGNAL }).catch(() => undefined);
    const tar = new OutputsTarStream(this.limits, session, stopWriter, capture);
    let settle!: (outcome: FrameOutcome) => void;
    const outcome = new Promise<FrameOutcome>((resolve) => (settle = resolve));
    stdout.readFrame(
      new LauncherFrame(
        nonce,
        (chunk) => tar.push(chunk),
        (end) => (tar.end(), settle(end)),
      ),
    );
    // The frame's bytes are all handed on before the stream's end is seen: an end first means the frame was cut.
    void session.ended.then(() => (tar.abort(), settle({ lost: true })));
    const timer = setTimeout(() => (tar.abort(), stopWriter(), settle({ invalid: `reading /outputs took longer than ${FRAME_TIMEOUT_MS / 1000} s` })), FRAME_TIMEOUT_MS);
    session.write(FRAME_REQUEST);
    const end = await outcome.finally(() => clearTimeout(timer));
    const read = await tar.result;
    if (!read.ok && read.code === 'output_too_large') return read;
    // The connection to the engine ended first (a proxy dropping it, say): the launcher lingers, so an exec can
    // still read /outputs; a container that stopped meanwhile is a platform failure, which the exec reports.
    if ('lost' in end) return this.fallback.read(container, capture);
    if ('invalid' in end) return { ok: false, code: 'output_invalid', message: `could not read /outputs: ${end.invalid}`, outputs: {} };
    return withTarStatus(read, { status: end.tarStatus, message: end.message });
  }
}
