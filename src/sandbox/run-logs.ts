// A run's two output streams as every engine captures them: bounded (head and tail kept), passed on live, and the common part of its result.
import type { LogListener, SandboxResult, SandboxUsage } from './backend.ts';
import { LogCapture } from './log-capture.ts';

export type ResultBase = Pick<SandboxResult, 'stdout' | 'stderr' | 'startedAt' | 'finishedAt' | 'durationSeconds' | 'usage'>;

export class RunLogs {
  private readonly stdout: LogCapture;
  private readonly stderr: LogCapture;

  constructor(capBytes: number, onLog: LogListener | undefined) {
    this.stdout = new LogCapture(capBytes);
    this.stderr = new LogCapture(capBytes);
    this.out = (chunk) => (this.stdout.append(chunk), onLog?.('stdout', chunk));
    this.err = (chunk) => (this.stderr.append(chunk), onLog?.('stderr', chunk));
  }

  /** Takes a chunk of the command's stdout. */
  readonly out: (chunk: Buffer) => void;
  /** Takes a chunk of the command's stderr. */
  readonly err: (chunk: Buffer) => void;

  /** What the launcher said on stderr so far (its complaint when it could not start the command). */
  stderrText(): string {
    return this.stderr.result().text;
  }

  /** The logs, the times and (when known) the usage: what every result carries, however the run ended. */
  resultBase(startedAt: Date, finishedAt: Date, usage?: SandboxUsage): ResultBase {
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
