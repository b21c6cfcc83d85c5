// A run's two output streams as every engine captures them: secrets redacted, bounded (head and tail kept), passed on live, and the common part of its result.
import type { LogListener, SandboxResult, SandboxUsage } from './backend.ts';
import { LogCapture } from './log-capture.ts';
import { Redactor, type StreamRedactor } from './redaction.ts';

export type ResultBase = Pick<SandboxResult, 'stdout' | 'stderr' | 'startedAt' | 'finishedAt' | 'durationSeconds' | 'usage'>;

export class RunLogs {
  private readonly stdout: LogCapture;
  private readonly stderr: LogCapture;
  /** Present when the run has secrets: each stream is redacted before it is captured or passed on (redaction.ts). */
  private readonly redacting: { out: StreamRedactor; err: StreamRedactor } | undefined;

  /** `secrets`: the run's (SandboxSpec.secrets), whose values never reach the capture or `onLog`. */
  constructor(capBytes: number, onLog: LogListener | undefined, secrets?: Record<string, string>) {
    this.stdout = new LogCapture(capBytes);
    this.stderr = new LogCapture(capBytes);
    const out = (chunk: Buffer) => (this.stdout.append(chunk), onLog?.('stdout', chunk));
    const err = (chunk: Buffer) => (this.stderr.append(chunk), onLog?.('stderr', chunk));
    // Before the capture, not after: a value cut in two by the capture's truncation would no longer be found.
    const redactor = Redactor.of(secrets);
    this.redacting = redactor && { out: redactor.stream(out), err: redactor.stream(err) };
    this.out = this.redacting ? (chunk) => this.redacting!.out.push(chunk) : out;
    this.err = this.redacting ? (chunk) => this.redacting!.err.push(chunk) : err;
  }

  /** Takes a chunk of the command's stdout. */
  readonly out: (chunk: Buffer) => void;
  /** Takes a chunk of the command's stderr. */
  readonly err: (chunk: Buffer) => void;

  /** The stream was cut short, not ended: bytes held back in case they began a secret's form are dropped (StreamRedactor.drop). */
  cut(stream: 'stdout' | 'stderr'): void {
    this.redacting?.[stream === 'stdout' ? 'out' : 'err'].drop();
  }

  /** What the launcher said on stderr so far (its complaint when it could not start the command). */
  stderrText(): string {
    return this.stderr.result().text;
  }

  /** The logs, the times and (when known) the usage: what every result carries, however the run ended. */
  resultBase(startedAt: Date, finishedAt: Date, usage?: SandboxUsage): ResultBase {
    // The streams are over: bytes held back in case they began a secret's form are passed on (redacted) now.
    this.redacting?.out.end();
    this.redacting?.err.end();
    return {
      stdout: this.stdout.result(),
      stderr: this.stderr.result(),
      startedAt,
      finishedAt,
      durationSeconds: Math.max(0, (finishedAt.getTime() - startedAt.getTime()) / 1000),
      ...(usage ? { usage } : {}),
    };
  }
}
