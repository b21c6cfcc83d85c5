// SIGTERM: running runs may finish within the grace period, the rest are cancelled and recorded; nothing stays running.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { openStores } from '../../src/sandrun.ts';
import { TestRepo } from '../helpers/git-repo.ts';
import { freePort, startServerProcess, stopGracefully, tokenForServer } from '../helpers/server-process.ts';

let repo: TestRepo;
beforeAll(() => {
  repo = new TestRepo({ 'models/short.py': 'import time\ntime.sleep(3)\nprint("done")\n', 'models/long.py': 'import time\ntime.sleep(120)\n' });
});
afterAll(() => repo.remove());

async function serverWithProject(graceSeconds: string) {
  const dataDir = mkdtempSync(join(tmpdir(), 'sandrun-shutdown-'));
  const token = await tokenForServer({ SANDRUN_DATA_DIR: dataDir }, 'shutdown');
  const server = await startServerProcess({ SANDRUN_DATA_DIR: dataDir, SANDRUN_SHUTDOWN_GRACE_SECONDS: graceSeconds, SANDRUN_LOG_LEVEL: 'warn' }, await freePort());
  const call = (method: string, path: string, body?: unknown) =>
    fetch(server.url + path, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  await call('POST', '/v1/projects', { name: 'shutdown', repo_url: repo.dir });
  const runsAfterExit = async () => {
    const after = await openStores(loadConfig({ SANDRUN_DATA_DIR: dataDir }));
    const rows = after.database.sqlite!.prepare('SELECT status, error_code FROM runs ORDER BY seq').all() as { status: string; error_code: string | null }[];
    await after.database.close();
    rmSync(dataDir, { recursive: true, force: true });
    return rows;
  };
  /** Until one of the project's runs is running: a slow machine may take seconds to start it. */
  const untilRunning = async () => {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const answer = await call('GET', '/v1/runs?project_name=shutdown&status=running');
      if (answer.status !== 200 && answer.status !== 429) throw new Error(`listing runs: ${answer.status} ${await answer.text()}`);
      if (answer.status === 200 && ((await answer.json()) as { runs: unknown[] }).runs.length > 0) return;
      if (Date.now() > deadline) throw new Error('no run started within 60 s');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  return { server, call, runsAfterExit, untilRunning };
}

describe('SIGTERM', () => {
  it('lets a running sync run finish within the grace period and answers its client', async () => {
    const { server, call, runsAfterExit, untilRunning } = await serverWithProject('20');
    const response = call('POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'shutdown', model_name: 'short' });
    await untilRunning();
    await stopGracefully(server, 30_000);
    const body = await (await response).json();
    expect(body).toMatchObject({ status: 'success', stdout: 'done\n' });
    expect(server.child.exitCode).toBe(0);
    expect(await runsAfterExit()).toEqual([{ status: 'success', error_code: null }]);
  });

  it('cancels and records what outlasts the grace period; queued runs stay pending for the next start', async () => {
    const { server, call, runsAfterExit, untilRunning } = await serverWithProject('1');
    await call('POST', '/v1/runs', { scope: 'model', mode: 'async', project_name: 'shutdown', model_name: 'long' });
    for (let i = 0; i < 5; i += 1) await call('POST', '/v1/runs', { scope: 'model', mode: 'async', project_name: 'shutdown', model_name: 'long' });
    await untilRunning();
    const started = Date.now();
    await stopGracefully(server, 30_000);
    // The 1 s grace, then a cancel: seconds on a slow machine, never the run's 120 s.
    expect((Date.now() - started) / 1000).toBeLessThan(25);
    const rows = await runsAfterExit();
    expect(rows.filter((row) => row.status === 'running')).toEqual([]);
    expect(rows.filter((row) => row.status === 'cancelled').length).toBeGreaterThanOrEqual(1);
    expect(rows.every((row) => row.status === 'cancelled' || row.status === 'pending')).toBe(true);
  });
});
