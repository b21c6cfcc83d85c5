// Splits a task's stdout into the run's own output and the outputs frame the task's wrapper prints after the command.
import { randomBytes } from 'node:crypto';

export interface OutputsFrame {
  /** Base64 of the tar of /outputs (as `tar -c -C /outputs .` wrote it). */
  base64: string;
  exitCode: number;
  tarStatus: number;
  /** The frame held more than allowed; its content was dropped. */
  tooLarge: boolean;
}

/** Output without newlines is passed on in pieces of about this size, so a long line never piles up in memory. */
const PARTIAL_LINE_LIMIT = 64 * 1024;

/** A per-run marker: the run's own output cannot collide with it by accident. */
export function frameNonce(): string {
  return `sandrun-frame-${randomBytes(16).toString('hex')}`;
}

/**
 * Line by line, as the wrapper prints it (service-spec.ts). The wrapper prints "<nonce> start\n" before the command
 * (dropped: a reader of the kept log learns from it that the log was not cut at its head), then, after it, prints "\n<nonce> begin\n", waits
 * for the server (onBegin), then base64 lines, then "<nonce> end <exit> <tar status>\n"; the newline it adds
 * before the frame is held back from the run's output until the next line shows it was the frame's.
 * A frame begun again restarts it: the last one wins, and the wrapper's is last (every other process
 * of the run is killed before it prints). What a run could forge is only its own outputs, which it
 * controls anyway; exit code and OOM come from the engine.
 */
export class StdoutFrameSplitter {
  private partial = '';
  private heldNewline = false;
  private inFrame = false;
  private lines: string[] = [];
  private frameBytes = 0;
  private tooLarge = false;
  private ended: { exitCode: number; tarStatus: number } | undefined;
  private seenLine = false;
  private startFirst = false;
  private markCompleted!: () => void;
  /** Settles once the wrapper's end line has been seen. */
  readonly completed = new Promise<void>((resolve) => (this.markCompleted = resolve));

  constructor(
    private readonly nonce: string,
    private readonly onOutput: (chunk: Buffer) => void,
    private readonly maxFrameBytes: number,
    /** Called at each begin line: the run's processes are dead and the wrapper waits for the server's go-ahead. */
    private readonly onBegin: () => void,
  ) {}

  push(chunk: Buffer): void {
    const text = this.partial + chunk.toString('latin1');
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) this.line(line);
    if (this.partial.length > PARTIAL_LINE_LIMIT) this.flushLongPartial();
  }

  /**
   * A line longer than any marker cannot be one: pass it on (or count it against the frame) without waiting for its
   * end; but for its last few characters, which may be the start of a begin line run into it (see line()).
   */
  private flushLongPartial(): void {
    this.seenLine = true;
    if (this.inFrame) {
      this.frameBytes += this.partial.length;
      this.tooLarge = true;
      this.partial = '';
      return;
    }
    const keep = this.beginLine.length;
    this.emit(this.partial.slice(0, -keep), false);
    this.partial = this.partial.slice(-keep);
  }

  private get beginLine(): string {
    return `${this.nonce} begin`;
  }

  /** Whether the first line was the wrapper's start line: nothing of the run's output came before it was read. */
  get sawStart(): boolean {
    return this.startFirst;
  }

  private line(line: string): void {
    const first = !this.seenLine;
    this.seenLine = true;
    // The wrapper's first line, said before the command runs; not the run's output.
    if (first && line === `${this.nonce} start`) {
      this.startFirst = true;
      return;
    }
    // The LF the wrapper prints before its begin line is lost from the engine's `local` log when the run's output
    // ended with a line longer than 16 KiB without its own (what a server adopting the task reads): the begin line
    // then ends that line. The nonce is the wrapper's, so only it (or the run, to forge its own outputs) ends a line so.
    if (line.endsWith(this.beginLine)) {
      if (line.length > this.beginLine.length) this.emit(line.slice(0, -this.beginLine.length), false);
      this.heldNewline = false;
      this.inFrame = true;
      this.ended = undefined;
      this.lines = [];
      this.frameBytes = 0;
      this.tooLarge = false;
      this.onBegin();
      return;
    }
    if (this.inFrame) {
      const end = new RegExp(`^${this.nonce} end (\\d+) (\\d+)$`).exec(line);
      if (end) {
        this.inFrame = false;
        this.ended = { exitCode: Number(end[1]), tarStatus: Number(end[2]) };
        this.markCompleted();
        return;
      }
      this.frameBytes += line.length;
      if (this.frameBytes > this.maxFrameBytes) this.tooLarge = true;
      else this.lines.push(line);
      return;
    }
    this.emit(line, true);
  }

  private emit(text: string, newline: boolean): void {
    const out = (this.heldNewline ? '\n' : '') + text;
    this.heldNewline = newline;
    if (out.length > 0) this.onOutput(Buffer.from(out, 'latin1'));
  }

  /** The stream ended: flushes what is left of the run's output; the frame, if the wrapper printed one in full. */
  finish(): OutputsFrame | undefined {
    if (!this.inFrame && this.partial) this.emit(this.partial, false);
    else if (!this.inFrame && this.heldNewline) this.emit('', false);
    this.partial = '';
    if (!this.ended) return undefined;
    return { base64: this.lines.join(''), exitCode: this.ended.exitCode, tarStatus: this.ended.tarStatus, tooLarge: this.tooLarge };
  }
}
