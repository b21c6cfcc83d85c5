// kill -9 of the server while a run with network grants runs: the next start adopts the run (cancelled from it, it
// ends like any run) and leaves no run network, grant file or container behind; a clean stop then removes the egress proxy too.
import Dockerode from 'dockerode';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grantPath } from '../../src/egress/egress-files.ts';
import { EGRESS_COMPONENT_LABEL } from '../../src/sandbox/docker/egress-spec.ts';
import { INSTANCE_LABEL } from '../../src/sandbox/labels.ts';
import { TestRepo } from '../helpers/git-repo.ts';
import { pollRun } from '../helpers/poll-run.ts';
import { freePort, killHard, startServerProcess, stopGracefully, type ServerProcess, tokenForServer, apiCaller } from '../helpers/server-process.ts';

const docker = new Dockerode();
const dataDir = mkdtempSync(join(tmpdir(), 'sandrun-egress-restart-'));
let repo: TestRepo;
let token: string;
let server: ServerProcess | undefined;

beforeAll(async () => {
  repo = new TestRepo({
    'sandrun.yaml': 'image: sandrun/python:3.11\nnetwork:\n  allow: ["api.example.com:443"]\nmodels:\n  sleepy:\n    command: [python, sleepy.py]\n',
    'sleepy.py': 'import time\nprint("sleeping", flush=True)\ntime.sleep(300)\n',
  });
  token = await tokenForServer({ SANDRUN_DATA_DIR: dataDir }, 'egress-restart');
});
afterAll(async () => {
  if (server) await stopGracefully(server);
  rmSync(dataDir, { recursive: true, force: true });
  repo.remove();
});

const call = apiCaller(() => server!.url, () => token);

/** What of egress this server's instance has on the engine: its run networks, all its networks, its proxy. */
async function egressOnEngine(instanceId: string) {
  const ofInstance = `${INSTANCE_LABEL}=${instanceId}`;
  const runNetworks = await docker.listNetworks({ filters: { label: [`${EGRESS_COMPONENT_LABEL}=run`, ofInstance] } });
  const networks = await docker.listNetworks({ filters: { label: [ofInstance] } });
  const proxies = await docker.listContainers({ all: true, filters: { label: [`${EGRESS_COMPONENT_LABEL}=proxy`, ofInstance] } });
  const runContainers = await docker.listContainers({ all: true, filters: { label: ['sandrun.managed=true', ofInstance] } });
  return { runNetworks: runNetworks.map((n) => n.Name), networks: networks.map((n) => n.Name), proxies: proxies.length, runContainers: runContainers.length };
}

async function until<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

describe('a server killed with SIGKILL during a run with network grants', () => {
  it('leaves nothing of egress behind once it has started again, and a clean stop removes the proxy', async () => {
    const port = await freePort();
    const env = { SANDRUN_DATA_DIR: dataDir, SANDRUN_EGRESS_ALLOW: 'api.example.com:443', SANDRUN_LOG_LEVEL: 'warn' };
    server = await startServerProcess(env, port);
    const instanceId = readFileSync(join(dataDir, 'instance-id'), 'utf8').trim();
    expect((await call('POST', '/v1/projects', { name: 'egress', repo_url: repo.dir })).status).toBe(201);
    const run = (await call('POST', '/v1/runs', { scope: 'model', mode: 'async', project_name: 'egress', model_name: 'sleepy' })).body;
    await pollRun(() => call('GET', `/v1/runs/${run.run_id}`), run.run_id, { until: ['running'] });
    expect(existsSync(grantPath(join(dataDir, 'egress'), run.run_id)), 'the running run\'s grant file').toBe(true);
    const before = await egressOnEngine(instanceId);
    expect(before.runNetworks.length, 'the run\'s network (and maybe one parked for the next run)').toBeGreaterThanOrEqual(1);
    expect(before.proxies).toBe(1);

    await killHard(server);
    server = await startServerProcess(env, port);
    // Adopted by the new process (its container outlived the old one): cancelled from it, it ends like any run.
    const cancel = await call('POST', `/v1/runs/${run.run_id}/cancel`);
    expect(cancel.status, JSON.stringify(cancel.body)).toBe(200);
    const ended = await pollRun(() => call('GET', `/v1/runs/${run.run_id}`), run.run_id);
    expect(ended.status, 'the adopted run, cancelled').toBe('cancelled');
    expect(ended.stdout).toBe('sleeping\n');
    await until('egress left by the killed server', () => egressOnEngine(instanceId), (state) => state.runNetworks.length === 0 && state.runContainers === 0);
    expect(readdirSync(join(dataDir, 'egress', 'grants')), 'grant files').toEqual([]);

    await stopGracefully(server);
    server = undefined;
    const after = await egressOnEngine(instanceId);
    expect(after, 'after a clean stop').toEqual({ runNetworks: [], networks: [], proxies: 0, runContainers: 0 });
  });
});
