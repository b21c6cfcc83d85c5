// What each run's connections moved through the egress proxy: live sockets and closed totals, written to the run's counts file.
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { countsFileSchema, countsPath, grantPath, readJsonFile, writeAtomically, type CountsFile, type DestinationCount } from '../egress-files.ts';

/** A run tries few distinct refused destinations; past this many, further ones are not listed (their attempts are still refused). */
const MAX_REFUSED_LISTED = 32;

interface RunState {
  /** Totals of closed connections, by `host port`. */
  closed: Map<string, DestinationCount>;
  /** Open connections: the upstream socket and its destination's key; its byte counters are read when written out. */
  live: Map<Socket, { key: string; client: Socket }>;
  refused: CountsFile['refused'];
  dirty: boolean;
}

const keyOf = (host: string, port: number) => `${host} ${port}`;

export class RunCounts {
  private readonly runs = new Map<string, RunState>();

  /**
   * `onFileError`: a counts file could not be written (a full disk: the connection goes on, the next write catches up)
   * or an earlier one read (counting starts again from zero).
   */
  constructor(
    private readonly dir: string,
    private readonly onFileError: (runId: string, error: Error) => void,
  ) {}

  /** Open connections of a run (a limit counts them). */
  liveConnections(runId: string): number {
    return this.runs.get(runId)?.live.size ?? 0;
  }

  get totalLive(): number {
    let total = 0;
    for (const state of this.runs.values()) total += state.live.size;
    return total;
  }

  /**
   * Counts an accepted connection until it closes. `upstream` is the socket to the destination: its bytesWritten are the
   * run's bytes out, its bytesRead the bytes in. Closing either side closes both.
   */
  track(runId: string, host: string, port: number, upstream: Socket, client: Socket): void {
    const state = this.state(runId);
    const key = keyOf(host, port);
    const total = this.totalFor(state, host, port);
    total.connections += 1;
    state.live.set(upstream, { key, client });
    state.dirty = true;
    this.write(runId, false);
    upstream.once('close', () => {
      state.live.delete(upstream);
      total.bytes_out += upstream.bytesWritten;
      total.bytes_in += upstream.bytesRead;
      state.dirty = true;
      if (this.runs.get(runId) === state) this.write(runId, false);
    });
  }

  refused(runId: string, host: string, port: number, reason: string): void {
    const state = this.state(runId);
    const entry = state.refused.find((item) => item.host === host && item.port === port && item.reason === reason);
    if (entry) entry.attempts += 1;
    else if (state.refused.length < MAX_REFUSED_LISTED) state.refused.push({ host, port, reason, attempts: 1 });
    state.dirty = true;
    this.write(runId, false);
  }

  /**
   * Writes the counts of runs with open connections that moved bytes since, and ends the runs whose grant file is gone:
   * their connections are cut, their counts written one last time with `closed: true`. Called on a timer.
   */
  sweep(): void {
    for (const [runId, state] of this.runs) {
      if (!existsSync(grantPath(this.dir, runId))) {
        for (const [upstream, { client }] of state.live) {
          upstream.destroy();
          client.destroy();
        }
        this.write(runId, true);
        this.runs.delete(runId);
      } else if (state.live.size > 0 || state.dirty) {
        this.write(runId, false);
      }
    }
  }

  /** Cuts every open connection (the proxy is stopping), once their counts so far are written. */
  closeAll(): void {
    for (const [runId, state] of this.runs) {
      this.write(runId, false);
      for (const [upstream, { client }] of state.live) {
        upstream.destroy();
        client.destroy();
      }
    }
  }

  private state(runId: string): RunState {
    let state = this.runs.get(runId);
    if (!state) {
      // A restarted proxy goes on from what its predecessor wrote.
      let earlier: CountsFile | undefined;
      try {
        earlier = readJsonFile(countsPath(this.dir, runId), countsFileSchema);
      } catch (error) {
        this.onFileError(runId, error as Error);
      }
      state = {
        closed: new Map((earlier?.egress ?? []).map((entry) => [keyOf(entry.host, entry.port), { ...entry }])),
        live: new Map(),
        refused: earlier?.refused ?? [],
        dirty: false,
      };
      this.runs.set(runId, state);
    }
    return state;
  }

  private totalFor(state: RunState, host: string, port: number): DestinationCount {
    const key = keyOf(host, port);
    let total = state.closed.get(key);
    if (!total) {
      total = { host, port, bytes_out: 0, bytes_in: 0, connections: 0 };
      state.closed.set(key, total);
    }
    return total;
  }

  private write(runId: string, closed: boolean): void {
    const state = this.runs.get(runId)!;
    const egress = new Map([...state.closed].map(([key, total]) => [key, { ...total }]));
    for (const [upstream, { key }] of state.live) {
      const entry = egress.get(key)!;
      entry.bytes_out += upstream.bytesWritten;
      entry.bytes_in += upstream.bytesRead;
    }
    try {
      writeAtomically(countsPath(this.dir, runId), { run: runId, closed, egress: [...egress.values()], refused: state.refused } satisfies CountsFile);
      state.dirty = false;
    } catch (error) {
      this.onFileError(runId, error as Error);
    }
  }
}
