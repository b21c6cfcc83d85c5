// A server whose engine never answers container removals (SANDRUN_ENGINE_CALL_TIMEOUT_SECONDS=2): a run still gets its
// result, the server still stops, and the next start's sweep removes what was left once the engine answers again.
import Dockerode from 'dockerode';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineProxy } from '../helpers/engine-proxy.ts';
import { TestRepo } from '../helpers/git-repo.ts';
import { freePort, killHard, startServerProcess, stopGracefully, type ServerProcess, tokenForServer, apiCaller } from '../helpers/server-process.ts';

const DEADLINE_SECONDS = 2;
/** On top of the deadline, for a machine 2-3x slower than this one. */
const MARGIN_MS = 20_000;
const MANIFEST = [
  'image: sandrun/python:3.11',
  'models:',
  '  sleeper:',
  '    command: ["sleep", "600"]',
  '    timeout_seconds: 1',
  '',
].join('\n');

const engine = new Dockerode();
let dataDir: string;
let repo: TestRepo;
let token: string;
let proxy: EngineProxy;
let server: ServerProcess | undefined;

const serverEnv = () => ({
  SANDRUN_DATA_DIR: dataDir,
  DOCKER_HOST: proxy.dockerHost,
  SANDRUN_LOG_LEVEL: 'warn',
  SANDRUN_ENGINE_CALL_TIMEOUT_SECONDS: String(DEADLINE_SECONDS),
  SANDRUN_POOL_SIZE: '0',
});
const containersOfServer = () => {
  const instanceId = readFileSync(join(dataDir, 'instance-id'), 'utf8').trim();
  return engine.listContainers({ all: true, filters: { label: [`sandrun.instance=${instanceId}`] } });
};

const call = apiCaller(() => server!.url, () => token, { timeoutMs: 1_000 + DEADLINE_SECONDS * 1000 + MARGIN_MS });

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'sandrun-engine-deadline-'));
  repo = new TestRepo({ 'sandrun.yaml': MANIFEST });
  token = await tokenForServer({ SANDRUN_DATA_DIR: dataDir }, 'deadline');
  proxy = new EngineProxy(join(dataDir, 'engine.sock'));
  await proxy.up();
  server = await startServerProcess(serverEnv(), await freePort());
});
afterAll(async () => {
  proxy.stopHolding();
  if (server) await killHard(server);
  for (const info of await containersOfServer().catch(() => [])) await engine.getContainer(info.Id).remove({ force: true, v: true }).catch(() => undefined);
  await proxy.down();
  rmSync(dataDir, { recursive: true, force: true });
  repo.remove();
});

describe('a server whose engine never answers container removals', () => {
  it('answers a timed-out sync run, stops gracefully, and its next start removes the leftover container', async () => {
    expect((await call('POST', '/v1/projects', { name: 'deadline', repo_url: repo.dir })).status).toBe(201);
    proxy.holdRequests(/^DELETE \/containers\//);

    const started = Date.now();
    const run = await call('POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'deadline', model_name: 'sleeper' });
    expect(run.body.status, JSON.stringify(run.body)).toBe('timed_out');
    expect(Date.now() - started, 'the run ended within its timeout, the engine deadline and a margin').toBeLessThan(1_000 + DEADLINE_SECONDS * 1000 + MARGIN_MS);
    expect(proxy.heldCount, 'its container removal was held').toBeGreaterThanOrEqual(1);

    const stopping = Date.now();
    await stopGracefully(server!, 60_000);
    expect(server!.child.exitCode, `a graceful stop exits 0:\n${server!.output()}`).toBe(0);
    expect(Date.now() - stopping, 'the stop did not wait for the engine').toBeLessThan(DEADLINE_SECONDS * 3000 + MARGIN_MS);
    server = undefined;
    expect((await containersOfServer()).length, 'the container nobody could remove is left').toBeGreaterThanOrEqual(1);

    proxy.stopHolding();
    server = await startServerProcess(serverEnv(), await freePort());
    expect(await containersOfServer(), 'the start-up sweep removed it').toEqual([]);
    await stopGracefully(server);
    server = undefined;
  });
});
