// Reads a run's /outputs from its launcher's own stream: asked for with the trigger, framed on stdout right after the
// command's trailer, parsed as it arrives.
import { STOP_SIGNAL } from '../backend.ts';
import { OutputsTarStream } from '../outputs-stream.ts';
import { withTarStatus, type ArtifactCapture, type OutputsLimits, type OutputsReadResult } from '../outputs.ts';
import { LauncherFrame, type FrameEnd, type LauncherStdout } from './launcher-protocol.ts';
import type { OutputsReader } from './outputs-reader.ts';
import type { ParkedContainer } from './parked-container.ts';

/** How long the frame may take, from the command's trailer to the frame's end line. */
const FRAME_TIMEOUT_MS = 15_000;

type FrameOutcome = FrameEnd | { invalid: string } | { lost: true };

/** The frame of one run, read from before its trigger (the launcher writes it unasked after the trailer). */
export interface ExpectedOutputs {
  /** Once the trailer said /outputs has something: the frame, read under the caps. */
  read(): Promise<OutputsReadResult>;
  /** The run has no frame to read (empty /outputs, or it did not end by itself). */
  drop(): void;
}

export class LauncherOutputs {
  constructor(
    private readonly limits: OutputsLimits,
    /** The exec that reads /outputs, for a stream to the engine that ended before the frame did. */
    private readonly fallback: OutputsReader,
  ) {}

  /**
   * Routes what follows the run's trailer on stdout into the parser of /outputs, from before the trigger on. Past the
   * cap the writer is stopped (the container killed), but only once `usageRead` settles: the kill removes the cgroup.
   */
  expect(parked: ParkedContainer, stdout: LauncherStdout, nonce: string, capture: ArtifactCapture | undefined, usageRead: Promise<unknown>): ExpectedOutputs {
    const { container, session } = parked;
    const stopWriter = () => void usageRead.finally(() => container.kill({ signal: STOP_SIGNAL }).catch(() => undefined));
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
    return {
      read: async () => {
        const timer = setTimeout(() => (tar.abort(), stopWriter(), settle({ invalid: `reading /outputs took longer than ${FRAME_TIMEOUT_MS / 1000} s` })), FRAME_TIMEOUT_MS);
        const end = await outcome.finally(() => clearTimeout(timer));
        const read = await tar.result;
        if (!read.ok && read.code === 'output_too_large') return read;
        // The connection to the engine ended first (a proxy dropping it, say): the launcher lingers, so an exec can
        // still read /outputs; a container that stopped meanwhile is a platform failure, which the exec reports.
        if ('lost' in end) return this.fallback.read(container, capture);
        if ('invalid' in end) return { ok: false, code: 'output_invalid', message: `could not read /outputs: ${end.invalid}`, outputs: {} };
        return withTarStatus(read, { status: end.tarStatus, message: end.message });
      },
      drop: () => {
        tar.abort();
        void tar.result.catch(() => undefined);
      },
    };
  }
}
