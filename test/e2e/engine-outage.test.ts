// While the engine is down: not ready, sync runs refused fast with 503, async runs stay pending and run once it is back.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineProxy } from '../helpers/engine-proxy.ts';
import { TestRepo } from '../helpers/git-repo.ts';
import { pollRun } from '../helpers/poll-run.ts';
import { freePort, startServerProcess, stopGracefully, type ServerProcess, tokenForServer, apiCaller } from '../helpers/server-process.ts';

let dataDir: string;
let repo: TestRepo;
let token: string;
let proxy: EngineProxy;
let server: ServerProcess;

const call = apiCaller(() => server.url, () => token);

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'sandrun-outage-'));
  repo = new TestRepo({ 'models/hello.py': 'print("hello")\n' });
  token = await tokenForServer({ SANDRUN_DATA_DIR: dataDir }, 'outage');
  proxy = new EngineProxy(join(dataDir, 'engine.sock'));
  await proxy.up();
  server = await startServerProcess({ SANDRUN_DATA_DIR: dataDir, DOCKER_HOST: proxy.dockerHost, SANDRUN_LOG_LEVEL: 'warn' }, await freePort());
});
afterAll(async () => {
  await proxy.up().catch(() => undefined);
  await stopGracefully(server);
  await proxy.down();
  rmSync(dataDir, { recursive: true, force: true });
  repo.remove();
});

describe('an engine outage', () => {
  it('is reported by readyz, refuses sync runs fast, keeps async runs pending, and runs them when the engine is back', async () => {
    expect((await call('POST', '/v1/projects', { name: 'outage', repo_url: repo.dir })).status).toBe(201);
    const before = await call('POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'outage', model_name: 'hello' });
    expect(before.body.status).toBe('success');

    await proxy.down();
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as any).checks.engine).not.toBe('ok');

    const started = Date.now();
    const sync = await call('POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'outage', model_name: 'hello' });
    // Fast means: without waiting for the engine or the run's timeout (300 s); a slow machine gets slack.
    expect(Date.now() - started, 'a sync run is refused fast').toBeLessThan(10_000);
    expect(sync.status).toBe(503);
    expect(sync.body.error.code).toBe('engine_unavailable');

    const queued = await call('POST', '/v1/runs', { scope: 'model', mode: 'async', project_name: 'outage', model_name: 'hello' });
    expect(queued.status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect((await call('GET', `/v1/runs/${queued.body.run_id}`)).body.status).toBe('pending');
    expect(server.child.exitCode, 'the server keeps running').toBeNull();

    await proxy.up();
    const run = await pollRun(() => call('GET', `/v1/runs/${queued.body.run_id}`), queued.body.run_id);
    expect(run).toMatchObject({ status: 'success', stdout: 'hello\n' });
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  });

  it('that leaves the engine accepting connections but never answering is reported by readyz within seconds', async () => {
    await proxy.hang();
    const started = Date.now();
    const ready = await fetch(`${server.url}/readyz`, { signal: AbortSignal.timeout(15_000) });
    expect(Date.now() - started, 'readyz does not hang with the engine').toBeLessThan(12_000);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as any).checks.engine).not.toBe('ok');
    await proxy.up();
    for (let i = 0; i < 50 && (await fetch(`${server.url}/readyz`)).status !== 200; i += 1) await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
  });
});
