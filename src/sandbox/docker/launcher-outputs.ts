// Reads a run's /outputs from its launcher's own stream: asked for with the trigger, framed on stdout right after the
// command's trailer, parsed as it arrives. The same reading serves a run's own server (its attach) and a server that
// adopts it (the container's kept log, adopted-run.ts).
import { STOP_SIGNAL } from '../backend.ts';
import { OutputsTarStream, type FlowControl } from '../outputs-stream.ts';
import { withTarStatus, type ArtifactCapture, type OutputsLimits, type OutputsReadResult } from '../outputs.ts';
import { LauncherFrame, type FrameEnd, type LauncherStdout } from './launcher-protocol.ts';
import type { OutputsReader } from './outputs-reader.ts';
import type { ParkedContainer } from './parked-container.ts';

/** How long the frame may take, from the command's trailer to the frame's end line. */
const FRAME_TIMEOUT_MS = 15_000;

type FrameOutcome = FrameEnd | { invalid: string } | { lost: true };

/** The frame of one run, expected from before its trailer: what follows the trailer is the frame, and nothing is held back. */
export interface ExpectedOutputs {
  /** Once the trailer said /outputs has something: the frame, read under the caps. */
  read(): Promise<OutputsReadResult>;
  /** The run has no frame to read (empty /outputs, or it did not end by itself). */
  drop(): void;
}

/** Where a frame comes from. */
export interface FrameSource {
  stdout: LauncherStdout;
  nonce: string;
  /** Holds the stream back while the parser catches up. */
  flow: FlowControl;
  /** Settles when the stream has ended: a frame not over by then was cut. */
  ended: Promise<void>;
  /** Stops the writer of a frame past the cap. */
  stopWriter: () => void;
  /** Reads /outputs otherwise, for a stream that ended before the frame did. */
  fallback: () => Promise<OutputsReadResult>;
  timeoutMs: number;
}

/** Routes what follows the trailer on `source.stdout` into the parser of /outputs, from now on. */
export function expectFrame(source: FrameSource, limits: OutputsLimits, capture: ArtifactCapture | undefined): ExpectedOutputs {
  const tar = new OutputsTarStream(limits, source.flow, source.stopWriter, capture);
  let settle!: (outcome: FrameOutcome) => void;
  const outcome = new Promise<FrameOutcome>((resolve) => (settle = resolve));
  source.stdout.readFrame(
    new LauncherFrame(
      source.nonce,
      (chunk) => tar.push(chunk),
      (end) => (tar.end(), settle(end)),
    ),
  );
  // The frame's bytes are all handed on before the stream's end is seen: an end first means the frame was cut.
  void source.ended.then(() => (tar.abort(), settle({ lost: true })));
  return {
    read: async () => {
      const timer = setTimeout(() => (tar.abort(), source.stopWriter(), settle({ invalid: `reading /outputs took longer than ${source.timeoutMs / 1000} s` })), source.timeoutMs);
      const end = await outcome.finally(() => clearTimeout(timer));
      const read = await tar.result;
      if (!read.ok && read.code === 'output_too_large') return read;
      if ('lost' in end) return source.fallback();
      if ('invalid' in end) return { ok: false, code: 'output_invalid', message: `could not read /outputs: ${end.invalid}`, outputs: {} };
      return withTarStatus(read, { status: end.tarStatus, message: end.message });
    },
    drop: () => {
      tar.abort();
      void tar.result.catch(() => undefined);
    },
  };
}

export class LauncherOutputs {
  constructor(
    private readonly limits: OutputsLimits,
    /** The exec that reads /outputs, for a stream to the engine that ended before the frame did. */
    private readonly fallback: OutputsReader,
  ) {}

  /**
   * The frame of a run about to be triggered in `parked`. Past the cap the writer is stopped (the container killed),
   * but only once `usageRead` settles: the kill removes the cgroup. Should the connection to the engine end first (a
   * proxy dropping it, say), the launcher lingers, so an exec can still read /outputs; a container that stopped
   * meanwhile is a platform failure, which the exec reports.
   */
  expect(parked: ParkedContainer, stdout: LauncherStdout, nonce: string, capture: ArtifactCapture | undefined, usageRead: Promise<unknown>): ExpectedOutputs {
    const { container, session } = parked;
    const source: FrameSource = {
      stdout,
      nonce,
      flow: session,
      ended: session.ended,
      stopWriter: () => void usageRead.finally(() => container.kill({ signal: STOP_SIGNAL }).catch(() => undefined)),
      fallback: () => this.fallback.read(container, capture),
      timeoutMs: FRAME_TIMEOUT_MS,
    };
    return expectFrame(source, this.limits, capture);
  }
}
