// Which server answers for each unfinished run: SQLite's single server for all; on PostgreSQL, servers that heartbeat (SPEC §13).
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { errorMessage } from '../errors.ts';
import type { RunRecord, RunsElsewhere, RunStore } from '../store/run-store.ts';
import type { ServerStore } from '../store/server-store.ts';

export interface RunOwnership {
  /** This start's id in `servers`, recorded on the runs it accepts; null on SQLite's single server. */
  readonly serverId: string | null;
  /**
   * Once, at start: the unfinished runs this server is to carry now. SQLite: every one. PostgreSQL: those of its own
   * earlier starts (on the same data directory) and of dead or stopped servers; never a live server's.
   */
  claimAtStart(): Promise<RunRecord[]>;
  /** The run taken for this server if its server is dead or stopped (cancel answers it at once); else undefined. */
  claimIfOrphaned(runId: string): Promise<RunRecord | undefined>;
  /** Unfinished runs as this server's reaper sees them: the ones other servers answer for, and every one's sandbox note. */
  unfinishedForReaper(): Promise<RunsElsewhere>;
}

/** SQLite: this process is the whole service and answers for every run; no server is recorded or asked. */
export class SingleServer implements RunOwnership {
  readonly serverId = null;

  constructor(private readonly runs: RunStore) {}

  claimAtStart(): Promise<RunRecord[]> {
    return this.runs.unfinished();
  }

  claimIfOrphaned(): Promise<RunRecord | undefined> {
    return Promise.resolve(undefined);
  }

  unfinishedForReaper(): Promise<RunsElsewhere> {
    return this.runs.unfinishedForReaper(null);
  }
}

/** What a live member does each heartbeat with what it found: runs it took over, engine instances no live server has. */
export interface TakeoverHandlers {
  takeOver(runs: RunRecord[]): Promise<void>;
  sweep(deadInstances: string[]): Promise<void>;
}

export interface MembershipSettings {
  servers: ServerStore;
  runs: RunStore;
  /** The data directory's identity: the label on this server's containers, the same across its restarts. */
  instanceId: string;
  heartbeatMs: number;
  deadMs: number;
  logger: Logger;
  /** This server was silent longer than deadMs: others may have taken its runs, so it must not carry on. */
  onLost: (reason: string) => void;
}

/**
 * PostgreSQL: one row per start, heartbeat every heartbeatMs (the database's clock decides who is dead), marked stopped
 * on a clean stop. Each heartbeat also takes the unfinished runs of dead or stopped servers, one atomic UPDATE per
 * claim (run-store.ts `claim`), so two live servers never take the same run.
 */
export class Membership implements RunOwnership {
  readonly serverId = randomUUID();
  private timer: NodeJS.Timeout | undefined;
  private lastBeat = 0;
  /** Since when this server's heartbeats went through without a gap: it takes others' runs only after deadMs of them. */
  private healthySince = 0;
  private leaving = false;
  private ticking: Promise<void> | undefined;

  constructor(private readonly settings: MembershipSettings) {}

  private get deadSeconds(): number {
    return this.settings.deadMs / 1000;
  }

  async claimAtStart(): Promise<RunRecord[]> {
    await this.settings.servers.join(this.serverId, this.settings.instanceId);
    this.lastBeat = this.healthySince = performance.now();
    return this.claim();
  }

  /** `silentToo`: servers silent for a dead period count as dead too; else only those that said they stopped. */
  private async claim(runId?: string, silentToo = true): Promise<RunRecord[]> {
    const dead = await this.settings.servers.deadServers(this.serverId, silentToo ? this.deadSeconds : null);
    return this.settings.runs.claim(this.serverId, dead, runId);
  }

  async claimIfOrphaned(runId: string): Promise<RunRecord | undefined> {
    return (await this.claim(runId))[0];
  }

  unfinishedForReaper(): Promise<RunsElsewhere> {
    return this.settings.runs.unfinishedForReaper(this.serverId);
  }

  /** Heartbeats from now on, taking over dead servers' runs and sweeping their instances' leftovers. */
  start(handlers: TakeoverHandlers): void {
    this.timer = setInterval(() => {
      // One at a time: a slow database must not pile ticks up.
      this.ticking ??= this.tick(handlers).finally(() => (this.ticking = undefined));
    }, this.settings.heartbeatMs);
    this.timer.unref();
  }

  private async tick(handlers: TakeoverHandlers): Promise<void> {
    const { servers, logger, heartbeatMs, deadMs } = this.settings;
    let alive: boolean;
    try {
      alive = await servers.heartbeat(this.serverId);
    } catch (error) {
      logger.warn({ err: errorMessage(error) }, 'could not renew this server’s heartbeat; trying again');
      return;
    }
    const now = performance.now();
    const silentMs = now - this.lastBeat;
    this.lastBeat = now;
    if (!alive || silentMs > deadMs) {
      this.stopTimer();
      this.settings.onLost(alive ? `no heartbeat went through for ${Math.round(silentMs / 1000)} s (dead after ${deadMs / 1000} s)` : 'its row in servers was marked stopped');
      return;
    }
    // After a gap (the database, or this process, stalled), the others may not have had their say yet either.
    if (silentMs > 2 * heartbeatMs) this.healthySince = now;
    if (this.leaving) return;
    try {
      // A server that stopped said so; one that fell silent is judged only by a server whose own voice carried meanwhile.
      const taken = await this.claim(undefined, now - this.healthySince >= deadMs);
      if (taken.length > 0) {
        logger.info({ runs: taken.length }, 'taking over the unfinished runs of servers that died or stopped');
        await handlers.takeOver(taken);
      }
      const instances = await servers.deadInstances(this.settings.instanceId, this.deadSeconds);
      if (instances.length > 0) await handlers.sweep(instances);
    } catch (error) {
      logger.warn({ err: errorMessage(error) }, 'taking over the runs of dead servers failed; trying again at the next heartbeat');
    }
  }

  /** A stop begins: this server takes no more runs over, but keeps its heartbeat while its own runs finish. */
  beginLeaving(): void {
    this.leaving = true;
  }

  /** The stop is done (its runs finished, or left pending): marked stopped, so others take what is left at once. */
  async stop(): Promise<void> {
    this.leaving = true;
    this.stopTimer();
    await this.ticking;
    await this.settings.servers.stop(this.serverId);
  }

  private stopTimer(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
