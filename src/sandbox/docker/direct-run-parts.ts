// What a direct-path run (direct-runner.ts) and its adoption by another server (adopted-direct-run.ts) share: its exit, usage, ending and removal.
import type Dockerode from 'dockerode';
import { rm } from 'node:fs/promises';
import { SandrunError } from '../../errors.ts';
import { STOP_SIGNAL, type SandboxResult, type SandboxUsage } from '../backend.ts';
import { readContainerUsage } from '../container-usage.ts';
import { engineError } from '../engine-errors.ts';
import { exitedOutcome } from '../exit-outcome.ts';
import type { OutputsReadResult } from '../outputs.ts';
import type { RunClock } from '../run-clock.ts';
import type { ResultBase } from '../run-logs.ts';

/** The container's CPU time is read while it runs (its cgroup goes with it): this often. */
const USAGE_SAMPLE_MS = 250;
const FIRST_SAMPLE_MS = 50;

/**
 * The exit of the run's container. The wait answers at the exit (no engine deadline, engine-deadline.ts): once the
 * run is stopped, the engine has `engineCallTimeoutMs` to report it.
 */
export class DirectExit {
  private readonly unanswered = new AbortController();
  private readonly exited: Promise<{ StatusCode: number }>;
  private waitBound: NodeJS.Timeout | undefined;

  /** `next-exit` for a container about to start (registered before the start, so that an exit at once is seen); `not-running` for one found. */
  constructor(
    private readonly container: Dockerode.Container,
    condition: 'next-exit' | 'not-running',
    private readonly engineCallTimeoutMs: number,
  ) {
    this.exited = container.wait({ condition, abortSignal: this.unanswered.signal }) as Promise<{ StatusCode: number }>;
    this.exited.catch(() => undefined);
  }

  /** Stops the container when the clock says the run must stop. */
  stopOn(clock: RunClock): void {
    clock.onStop(() => {
      void this.container.kill({ signal: STOP_SIGNAL }).catch(() => undefined);
      this.waitBound = setTimeout(() => this.unanswered.abort(), this.engineCallTimeoutMs);
    });
  }

  /** No exit will be awaited (the container did not start). */
  abandon(): void {
    this.unanswered.abort();
  }

  /** The exit status; an engine that stops answering meanwhile is the platform's failure. */
  async status(runId: string): Promise<number> {
    try {
      return (await this.exited).StatusCode;
    } catch (error) {
      const why = this.unanswered.signal.aborted ? `it did not report the exit within ${this.engineCallTimeoutMs / 1000} s of the stop` : engineError(error, 'waiting').message;
      throw new SandrunError('engine_unavailable', `the engine stopped answering while run ${runId} ran (${why}); its outcome is unknown`);
    } finally {
      clearTimeout(this.waitBound);
    }
  }
}

/** How a direct-path run ended once its container exited: stopped, or by its exit, OOM and outputs (read only then). */
export async function directEnding(
  base: ResultBase,
  exitStatus: number,
  stopped: RunClock['reason'],
  oomKilled: () => Promise<boolean>,
  readOutputs: () => Promise<OutputsReadResult>,
): Promise<SandboxResult> {
  // The process ran (its container started): its exit status is what the kill made of it.
  if (stopped) return { ...base, outcome: { kind: stopped }, exitCode: exitStatus, outputs: {} };
  const oom = await oomKilled();
  const read = await readOutputs();
  return { ...base, outcome: exitedOutcome(exitStatus, oom, read), exitCode: exitStatus, outputs: read.outputs, artifacts: read.artifacts };
}

/** Removes a run's containers, then its outputs volume (direct path: only once no container mounts it), then its directory. */
export async function removeRunParts(containers: readonly Dockerode.Container[], volume: Dockerode.Volume | undefined, dir: string | undefined): Promise<void> {
  await Promise.all(containers.map((container) => container.remove({ force: true, v: true }).catch(() => undefined)));
  await volume?.remove().catch(() => undefined);
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
}

/** The container's latest usage, read every USAGE_SAMPLE_MS while it runs: the last interval before its exit is not counted. */
export class UsageSampler {
  last: SandboxUsage | undefined;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly container: Dockerode.Container) {
    this.schedule(FIRST_SAMPLE_MS);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private schedule(afterMs = USAGE_SAMPLE_MS): void {
    this.timer = setTimeout(() => {
      void readContainerUsage(this.container).then((usage) => {
        if (this.stopped) return;
        // A read that races the exit can see an emptied account (the stats API answers zeros for a stopped container).
        if (usage && usage.cpuSeconds >= (this.last?.cpuSeconds ?? 0)) this.last = usage;
        this.schedule();
      });
    }, afterMs);
  }
}
