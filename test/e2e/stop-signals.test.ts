// Repeated stop signals: `npm start` and Ctrl-C (SIGINT to the process group, which npm forwards) still stops gracefully
// and leaves no container; only a third signal forces the exit, which still removes the server's parked containers.
import Dockerode from 'dockerode';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestRepo } from '../helpers/git-repo.ts';
import { pollRun } from '../helpers/poll-run.ts';
import { freePort, tokenForServer } from '../helpers/server-process.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * A copy of the checkout for `npm start`, which rebuilds dist/: in place, it would pull the bundle from under the
 * servers that other test files are starting at the same time.
 */
function checkoutCopy(): string {
  const copy = mkdtempSync(join(tmpdir(), 'sandrun-checkout-'));
  for (const entry of ['package.json', 'package-lock.json', 'tsconfig.json', 'bin', 'scripts', 'src']) cpSync(join(root, entry), join(copy, entry), { recursive: true });
  symlinkSync(realpathSync(join(root, 'node_modules')), join(copy, 'node_modules'));
  cleanups.push(() => rmSync(copy, { recursive: true, force: true }));
  return copy;
}
const docker = new Dockerode();
let repo: TestRepo;
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(() => {
  repo = new TestRepo({ 'models/hello.py': 'print("hello")\n', 'models/long.py': 'import time\nprint("started", flush=True)\ntime.sleep(300)\n' });
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});
afterAll(() => repo.remove());

interface Started {
  child: ChildProcess;
  dataDir: string;
  instanceId: string;
  url: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: () => string;
  call: (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any; headers: Headers }>;
  /** The server's JSON log lines with this msg. */
  logged: (msg: string) => unknown[];
}

const until = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
};

/** Starts the server as operators do (`npm start` or `node bin/sandrun.js serve`), as the leader of its own process group. */
async function start(command: string[], env: Record<string, string> = {}, cwd = root): Promise<Started> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sandrun-signals-'));
  const token = await tokenForServer({ SANDRUN_DATA_DIR: dataDir }, 'signals');
  const port = await freePort();
  const child = spawn(command[0]!, command.slice(1), {
    cwd,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SANDRUN_DATA_DIR: dataDir, SANDRUN_PORT: String(port), SANDRUN_HOST: '127.0.0.1', SANDRUN_ALLOW_LOCAL_REPOS: '1', SANDRUN_LOG_LEVEL: 'info', ...env },
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const url = `http://127.0.0.1:${port}`;
  const instanceId = () => readFileSync(join(dataDir, 'instance-id'), 'utf8').trim();
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGKILL');
    await exited;
    const left = await docker.listContainers({ all: true, filters: { label: [`sandrun.instance=${instanceId()}`] } }).catch(() => []);
    await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
    rmSync(dataDir, { recursive: true, force: true });
  });
  await until(
    `the server to be ready (output: ${output})`,
    async () => {
      if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}: ${output}`);
      return (await fetch(`${url}/readyz`).catch(() => undefined))?.status === 200;
    },
    120_000,
  );
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(url + path, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: response.status, body: await response.json(), headers: response.headers };
  };
  const logged = (msg: string) =>
    output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { msg?: string })
      .filter((line) => line.msg === msg);
  expect((await call('POST', '/v1/projects', { name: 'signals', repo_url: repo.dir })).status).toBe(201);
  return { child, dataDir, instanceId: instanceId(), url, exited, output: () => output, call, logged };
}

const containersOf = (instanceId: string) => docker.listContainers({ all: true, filters: { label: [`sandrun.instance=${instanceId}`] } });
const parkedOf = async (instanceId: string) => (await containersOf(instanceId)).filter((c) => c.Labels['sandrun.run_id']?.startsWith('pool-') && c.State === 'running');

describe('stop signals', () => {
  it('Ctrl-C on `npm start` (SIGINT to the process group, forwarded again by npm) stops gracefully and leaves no container, parked ones included', async () => {
    const server = await start(['npm', 'start'], {}, checkoutCopy());
    const run = await server.call('POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'signals', model_name: 'hello' });
    expect(run.body.status).toBe('success');
    // The run's kind is likely to come again: the pool parks a container for it.
    await until('a parked container', async () => (await parkedOf(server.instanceId)).length > 0);

    process.kill(-server.child.pid!, 'SIGINT');
    const exit = await server.exited;
    expect(exit, server.output()).toEqual({ code: 0, signal: null });
    expect(server.logged('stopping'), server.output()).toHaveLength(1);
    console.log(`the server saw ${1 + server.logged('still stopping').length} stop signal(s)`);
    expect(server.output()).not.toMatch(/forcing exit|Error:| {4}at /);
    const left = await containersOf(server.instanceId);
    expect(left.map((c) => `${c.Names[0]} ${c.State} ${c.Status}`)).toEqual([]);
  });

  it('a second signal while stopping waits; a third forces the exit, which still removes the parked containers', async () => {
    const server = await start(['node', 'bin/sandrun.js', 'serve'], { SANDRUN_SHUTDOWN_GRACE_SECONDS: '300' });
    expect((await server.call('POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'signals', model_name: 'hello' })).body.status).toBe('success');
    const long = await server.call('POST', '/v1/runs', { scope: 'model', mode: 'async', project_name: 'signals', model_name: 'long' });
    await pollRun(() => server.call('GET', `/v1/runs/${long.body.run_id}`), long.body.run_id, { until: ['running'] });
    await until('a parked container', async () => (await parkedOf(server.instanceId)).length > 0);

    server.child.kill('SIGINT');
    await until('the log line "stopping"', () => server.logged('stopping').length === 1);
    server.child.kill('SIGTERM');
    await until('the log line "still stopping"', () => server.logged('still stopping').length === 1);
    // The run goes on in its grace period (300 s): the server waits for it.
    expect(server.child.exitCode).toBeNull();

    server.child.kill('SIGINT');
    const exit = await server.exited;
    expect(exit, server.output()).toEqual({ code: 1, signal: null });
    expect(server.logged('forcing exit'), server.output()).toHaveLength(1);
    expect((await containersOf(server.instanceId)).map((c) => `${c.Names[0]} ${c.State}`)).toEqual([]);
  });
});
