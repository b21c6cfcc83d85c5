// The host's end of a parked container's stdio: an attach made before the container started, kept until it is removed.
import type Dockerode from 'dockerode';
import type { Duplex } from 'node:stream';
import { finished } from 'node:stream/promises';
import { parseReadyLine } from './launcher-protocol.ts';
import { StreamDemux, type ChunkSink } from '../stream-demux.ts';

/** What the launcher said of the image before any run: whether it has the `tar` that hands over /outputs. */
export interface LauncherReady {
  hasTar: boolean;
  /** The launcher keeps copies of its run's output and exit in the container's memory (kept-in-memory.ts). */
  keepsInMemory: boolean;
}

/** Output before a run routes the stream is only ever an init's or a shell's complaint: this much of it is kept. */
const EARLY_OUTPUT_BYTES = 4096;

export class LauncherSession {
  private stdoutSink: ChunkSink;
  private stderrSink: ChunkSink;
  private early: { stdout: Buffer[]; stderr: Buffer[]; bytes: number } | undefined = { stdout: [], stderr: [], bytes: 0 };
  private endedFlag = false;
  private brokenBy: Error | undefined;
  /** The start of stdout while the launcher's ready line is incomplete; undefined once it has been read (or was not there). */
  private readyBytes: Buffer | undefined = Buffer.alloc(0);
  private settleReady!: (ready: LauncherReady | undefined) => void;
  /** The launcher's ready line; undefined when the stream ended first or began otherwise (a launcher that failed). */
  private readonly ready: Promise<LauncherReady | undefined>;
  /** The ready line once read. */
  private said: LauncherReady | undefined;
  /** Settles when the engine closes the stream: the container stopped, or the connection to the engine broke. */
  readonly ended: Promise<void>;

  private constructor(private readonly stream: Duplex) {
    this.stdoutSink = (chunk) => this.keepEarly('stdout', chunk);
    this.stderrSink = (chunk) => this.keepEarly('stderr', chunk);
    this.ready = new Promise((resolve) => (this.settleReady = resolve));
    void this.ready.then((ready) => (this.said = ready));
    const demux = new StreamDemux(
      (chunk) => this.onStdout(chunk),
      (chunk) => this.stderrSink(chunk),
    );
    stream.on('data', (chunk: Buffer) => demux.push(chunk));
    this.ended = finished(stream)
      .catch((error: unknown) => {
        this.brokenBy = error instanceof Error ? error : new Error(String(error));
      })
      .finally(() => {
        this.endedFlag = true;
        const unread = this.readyBytes;
        this.readyBytes = undefined;
        if (unread && unread.length > 0) this.stdoutSink(unread);
        this.settleReady(undefined);
      });
  }

  /** The ready line, or undefined if it has not come within timeoutMs. */
  readyWithin(timeoutMs: number): Promise<LauncherReady | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), timeoutMs)));
    return Promise.race([this.ready, timeout]).finally(() => clearTimeout(timer));
  }

  /** Whether the launcher said it keeps copies of its run's output in memory (false before its ready line). */
  get keepsInMemory(): boolean {
    return this.said?.keepsInMemory === true;
  }

  private onStdout(chunk: Buffer): void {
    let bytes = chunk;
    if (this.readyBytes !== undefined) {
      bytes = this.readyBytes.length > 0 ? Buffer.concat([this.readyBytes, chunk]) : chunk;
      const parsed = parseReadyLine(bytes);
      if (parsed.kind === 'partial') {
        this.readyBytes = Buffer.from(bytes);
        return;
      }
      this.readyBytes = undefined;
      if (parsed.kind === 'ready') {
        this.settleReady({ hasTar: parsed.hasTar, keepsInMemory: parsed.keepsInMemory });
        bytes = parsed.rest;
      } else {
        this.settleReady(undefined);
      }
      if (bytes.length === 0) return;
    }
    this.stdoutSink(bytes);
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

  /** Holds the container's output back (the engine then holds the writer) until resume(): flow control for the outputs frame. */
  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  close(): void {
    this.stream.destroy();
  }
}
