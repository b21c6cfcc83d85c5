// kill -9 of the server mid-run: after a restart the running run is adopted (and can be cancelled), the queued one runs, no container is left, numbering goes on.
import Dockerode from 'dockerode';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestRepo } from '../helpers/git-repo.ts';
import { pollRun } from '../helpers/poll-run.ts';
import { freePort, killHard, startServerProcess, stopGracefully, type ServerProcess, tokenForServer, apiCaller } from '../helpers/server-process.ts';

const docker = new Dockerode();
let dataDir: string;
let repo: TestRepo;
let token: string;
let server: ServerProcess | undefined;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'sandrun-restart-'));
  repo = new TestRepo({ 'models/sleepy.py': 'import time\nprint("sleeping", flush=True)\ntime.sleep(300)\n', 'models/quick.py': 'print("quick")\n' });
  token = await tokenForServer({ SANDRUN_DATA_DIR: dataDir }, 'restart');
});
afterAll(async () => {
  if (server) await stopGracefully(server);
  rmSync(dataDir, { recursive: true, force: true });
  repo.remove();
});

const call = apiCaller(() => server!.url, () => token);

const waitFor = (runId: string, statuses: string[]) => pollRun(() => call('GET', `/v1/runs/${runId}`), runId, { until: statuses });

describe('a server killed with SIGKILL during a run', () => {
  it('reconciles at start: the running run is adopted and can be cancelled, the queued one runs, no container is left, numbers continue', async () => {
    const port = await freePort();
    const env = { SANDRUN_DATA_DIR: dataDir, SANDRUN_MAX_CONCURRENT_RUNS: '1', SANDRUN_LOG_LEVEL: 'warn' };
    server = await startServerProcess(env, port);
    expect((await call('POST', '/v1/projects', { name: 'restart', repo_url: repo.dir })).status).toBe(201);
    const sleeping = (await call('POST', '/v1/runs', { scope: 'model', mode: 'async', project_name: 'restart', model_name: 'sleepy' })).body;
    const queued = (await call('POST', '/v1/runs', { scope: 'model', mode: 'async', project_name: 'restart', model_name: 'quick' })).body;
    expect([sleeping.run_number, queued.run_number]).toEqual([1, 2]);
    await waitFor(sleeping.run_id, ['running']);
    expect((await call('GET', `/v1/runs/${queued.run_id}`)).body.status).toBe('pending');

    await killHard(server);
    const orphan = await docker.listContainers({ all: true, filters: { label: [`sandrun.run_id=${sleeping.run_id}`] } });
    expect(orphan, 'the killed server leaves its container behind').toHaveLength(1);

    server = await startServerProcess(env, port);
    // SPEC §13: the restarted server adopts the run from its container (before issue 21 it ended error, server_restarted).
    expect((await call('GET', `/v1/runs/${sleeping.run_id}`)).body.status).toBe('running');
    const cancel = await call('POST', `/v1/runs/${sleeping.run_id}/cancel`);
    expect(cancel.status, JSON.stringify(cancel.body)).toBe(200);
    const adopted = await waitFor(sleeping.run_id, ['success', 'failed', 'timed_out', 'cancelled', 'error']);
    expect(adopted).toMatchObject({ status: 'cancelled', exit_code: 137, stdout: 'sleeping\n', run_number: 1 });
    const requeued = await waitFor(queued.run_id, ['success', 'failed', 'timed_out', 'cancelled', 'error']);
    expect(requeued).toMatchObject({ status: 'success', stdout: 'quick\n', run_number: 2 });
    const left = await docker.listContainers({ all: true, filters: { label: [`sandrun.run_id=${sleeping.run_id}`] } });
    expect(left).toEqual([]);
    const next = await call('POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'restart', model_name: 'quick' });
    expect(next.body).toMatchObject({ status: 'success', run_number: 3 });
  });
});
