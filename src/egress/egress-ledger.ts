// The server's side of the egress directory: a run's grants and proxy credential when it starts, its byte counts when it ends.
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, rmSync, unlinkSync, watch } from 'node:fs';
import { countsDir, countsFileSchema, countsPath, grantPath, grantsDir, readJsonFile, RUN_ID, tokenSha256, writeAtomically, type CountsFile, type EgressGrant, type GrantFile } from './egress-files.ts';
import { errorMessage, SandrunError } from '../errors.ts';

/** One destination's traffic in a run's result (SPEC §11). */
export interface EgressUsage {
  host: string;
  port: number;
  bytes_out: number;
  bytes_in: number;
}

/** How long a run's end waits for the egress proxy's last count of it (the proxy looks every 250 ms). */
export const EGRESS_CLOSE_WAIT_MS = 3_000;

/** A run's result's egress from its counts file (none: the proxy never admitted a connection of it). */
export function usageOf(counts: CountsFile | undefined): EgressUsage[] {
  return (counts?.egress ?? []).map(({ host, port, bytes_out, bytes_in }) => ({ host, port, bytes_out, bytes_in }));
}

export interface EgressLedgerSettings {
  /** The directory shared with the proxy. */
  dir: string;
  /** `host:port` at which a run's container reaches the proxy (its name on the run's network). */
  proxyAddress: string;
  /** How long `close` waits for the proxy to cut a run's connections and write its last counts (it checks every sweep). */
  closeWaitMs: number;
}

export class EgressLedger {
  constructor(private readonly settings: EgressLedgerSettings) {
    // The proxy runs as the runner images' user (not the server's): it reads grants/ and writes counts/. The modes are
    // set whatever the umask; the directory's parent (the data directory) keeps other users of the host out.
    mkdirSync(grantsDir(settings.dir), { recursive: true });
    mkdirSync(countsDir(settings.dir), { recursive: true });
    chmodSync(settings.dir, 0o755);
    chmodSync(grantsDir(settings.dir), 0o755);
    chmodSync(countsDir(settings.dir), 0o777);
  }

  /**
   * Grants the run its destinations and returns the environment that points it at the proxy with its own credential
   * (both spellings: curl reads only the lower-case ones, some tools only the upper-case).
   */
  open(runId: string, grants: readonly EgressGrant[]): Record<string, string> {
    if (!RUN_ID.test(runId)) throw new SandrunError('internal', `run id '${runId}' cannot name an egress grant`);
    const token = randomBytes(24).toString('base64url');
    writeAtomically(grantPath(this.settings.dir, runId), { run: runId, tokenSha256: tokenSha256(token), grants: [...grants] } satisfies GrantFile);
    const url = `http://${runId}:${token}@${this.settings.proxyAddress}`;
    return { HTTP_PROXY: url, HTTPS_PROXY: url, http_proxy: url, https_proxy: url, NO_PROXY: '', no_proxy: '' };
  }

  /**
   * Ends the run's grants (the proxy refuses its credential from now on and cuts its connections) and returns what it
   * moved. Called once the run's container is gone. Without a counts file the proxy never admitted a connection of it.
   */
  async close(runId: string): Promise<EgressUsage[]> {
    rmSync(grantPath(this.settings.dir, runId), { force: true });
    const path = countsPath(this.settings.dir, runId);
    const read = () => readJsonFile(path, countsFileSchema);
    let counts = read();
    if (counts && !counts.closed) counts = (await this.closedCounts(runId)) ?? read();
    rmSync(path, { force: true });
    return usageOf(counts);
  }

  /** Removes the files of runs that are not live (a crash left them): their credentials stop working. */
  sweep(isLive: (runId: string) => boolean): number {
    let removed = 0;
    for (const dir of [grantsDir(this.settings.dir), countsDir(this.settings.dir)]) {
      // Only whole files: a .tmp name may be a write in progress.
      for (const name of readdirSync(dir).filter((entry) => entry.endsWith('.json'))) {
        if (isLive(name.slice(0, -'.json'.length))) continue;
        unlinkSync(`${dir}/${name}`);
        removed += 1;
      }
    }
    return removed;
  }

  /** Waits (on the directory's changes, up to closeWaitMs) for the proxy's last write of the run's counts. */
  private closedCounts(runId: string): Promise<CountsFile | undefined> {
    const path = countsPath(this.settings.dir, runId);
    return new Promise((resolve, reject) => {
      const watcher = watch(countsDir(this.settings.dir));
      const settle = (finish: () => void) => {
        clearTimeout(timer);
        watcher.close();
        finish();
      };
      const check = () => {
        try {
          const counts = readJsonFile(path, countsFileSchema);
          if (counts?.closed) settle(() => resolve(counts));
        } catch (error) {
          settle(() => reject(new SandrunError('internal', `reading the egress counts of run ${runId}: ${errorMessage(error)}`, undefined, { cause: error })));
        }
      };
      const timer = setTimeout(() => settle(() => resolve(undefined)), this.settings.closeWaitMs);
      watcher.on('change', check);
      watcher.on('error', (error) => settle(() => reject(new SandrunError('internal', `watching the egress counts of run ${runId}: ${error.message}`, undefined, { cause: error }))));
      // The proxy may have written between the first read and the watch.
      check();
    });
  }
}
