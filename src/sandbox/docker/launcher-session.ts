// The host's end of a parked container's stdio: an attach made before the container started, kept until it is removed.
import type Dockerode from 'dockerode';
import type { Duplex } from 'node:stream';
import { finished } from 'node:stream/promises';
import { StreamDemux, type ChunkSink } from './stream-demux.ts';

/** Output before a run routes the stream is only ever an init's or a shell's complaint: this much of it is kept. */
const EARLY_OUTPUT_BYTES = 4096;

export class LauncherSession {
  private stdoutSink: ChunkSink;
  private stderrSink: ChunkSink;
  private early: { stdout: Buffer[]; stderr: Buffer[]; bytes: number } | undefined = { stdout: [], stderr: [], bytes: 0 };
  private endedFlag = false;
  private brokenBy: Error | undefined;
  /** Settles when the engine closes the stream: the container stopped, or the connection to the engine broke. */
  readonly ended: Promise<void>;

  private constructor(private readonly stream: Duplex) {
    this.stdoutSink = (chunk) => this.keepEarly('stdout', chunk);
    this.stderrSink = (chunk) => this.keepEarly('stderr', chunk);
    const demux = new StreamDemux(
      (chunk) => this.stdoutSink(chunk),
      (chunk) => this.stderrSink(chunk),
    );
    stream.on('data', (chunk: Buffer) => demux.push(chunk));
    this.ended = finished(stream)
      .catch((error: unknown) => {
        this.brokenBy = error instanceof Error ? error : new Error(String(error));
      })
      .finally(() => {
        this.endedFlag = true;
      });
  }

  /** Attaches stdin, stdout and stderr of a created, not yet started, container (output before an attach is lost). */
  static async attach(container: Dockerode.Container): Promise<LauncherSession> {
    const stream = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as Duplex;
    return new LauncherSession(stream);
  }

  get hasEnded(): boolean {
    return this.endedFlag;
  }

  /** The error that broke the stream before it ended (the connection to the engine was lost), if any. */
  get broken(): Error | undefined {
    return this.brokenBy;
  }

  /** Where the container's output goes from now on, starting with what came before; sinks get views of the stream's chunks. */
  route(stdout: ChunkSink, stderr: ChunkSink): void {
    const early = this.early;
    this.early = undefined;
    for (const chunk of early?.stdout ?? []) stdout(chunk);
    for (const chunk of early?.stderr ?? []) stderr(chunk);
    this.stdoutSink = stdout;
    this.stderrSink = stderr;
  }

  private keepEarly(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    const early = this.early;
    if (!early || early.bytes >= EARLY_OUTPUT_BYTES) return;
    const kept = Buffer.from(chunk.subarray(0, EARLY_OUTPUT_BYTES - early.bytes));
    early[stream].push(kept);
    early.bytes += kept.length;
  }

  /** Writes to the container's stdin; false when the stream is already gone. */
  write(text: string): boolean {
    if (this.endedFlag || this.stream.destroyed || !this.stream.writable) return false;
    this.stream.write(text);
    return true;
  }

  close(): void {
    this.stream.destroy();
  }
}
