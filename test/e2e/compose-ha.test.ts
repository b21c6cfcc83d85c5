// docker-compose.ha.yml end to end: PostgreSQL, three servers and haproxy come up healthy; runs sent through the load
// balancer spread over the servers and number gaplessly; the service keeps answering when one server is stopped.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/server-process.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PROJECT = `sandrun-ha-${process.pid}`;
const SERVERS = ['sandrun-1', 'sandrun-2', 'sandrun-3'];
const SCOPES = 'runs:read,runs:write,projects:read,projects:write';

let dataDir: string;
let port: number;
let env: NodeJS.ProcessEnv;

function compose(...args: string[]): string {
  const result = spawnSync('docker-compose', ['-p', PROJECT, '-f', 'docker-compose.ha.yml', ...args], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 300_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0) throw new Error(`docker-compose ${args.join(' ')} exited ${result.status ?? result.signal}:\n${result.stderr.slice(-3000)}`);
  return result.stdout;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error instanceof Error ? error.message : error;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
}

const health = (service: string) =>
  execFileSync('docker', ['inspect', '-f', '{{.State.Health.Status}}', `${PROJECT}_${service}_1`], { encoding: 'utf8' }).trim();

describe('docker-compose.ha.yml: three servers on one PostgreSQL behind haproxy', () => {
  beforeAll(async () => {
    execFileSync('bash', ['scripts/ha-images.sh'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    dataDir = mkdtempSync(join(tmpdir(), 'sandrun-ha-'));
    port = await freePort();
    env = {
      ...process.env,
      SANDRUN_DATA_DIR: dataDir,
      SANDRUN_PUBLISH_PORT: String(port),
      SANDRUN_ALLOW_LOCAL_REPOS: '1',
      SANDRUN_DB_PASSWORD: randomBytes(12).toString('hex'),
      SANDRUN_SECRETS_KEY: randomBytes(32).toString('base64'),
    };
  }, 600_000);

  afterAll(() => {
    if (!env) return;
    try {
      compose('down', '--volumes', '--remove-orphans', '--timeout', '30');
      execFileSync('docker', ['image', 'prune', '--force', '--filter', 'label=sandrun.server=true'], { stdio: 'ignore' });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 180_000);

  it('comes up healthy, spreads runs over the servers with gapless numbers, and keeps serving with a server stopped', async () => {
    compose('config', '-q');
    compose('build', '-q');
    compose('up', '-d');
    const base = `http://127.0.0.1:${port}`;
    await waitFor('the load balancer answering /readyz', async () => ((await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(2000) })).ok ? true : undefined), 120_000);
    await waitFor('all three servers healthy', () => Promise.resolve(SERVERS.every((service) => health(service) === 'healthy') ? true : undefined), 120_000);

    const repo = join(dataDir, 'source', 'hello');
    mkdirSync(join(repo, 'models'), { recursive: true });
    writeFileSync(join(repo, 'models', 'hello.py'), 'import json\np = json.load(open("/inputs/parameters.json"))\nprint("hello", p["n"])\njson.dump({"n": p["n"]}, open("/outputs/echo.json", "w"))\n');
    const git = (...args: string[]) => execFileSync('git', ['-C', repo, ...args], { stdio: 'ignore' });
    git('init', '-q', '-b', 'main');
    git('add', '.');
    git('-c', 'user.name=t', '-c', 'user.email=t@sandrun.invalid', 'commit', '-qm', 'hello');

    // Made on one server's CLI, against the shared database: every server accepts it.
    const created = compose('exec', '-T', 'sandrun-2', 'node', 'bin/sandrun.js', 'tokens', 'create', '--tenant', 'ha', '--scopes', SCOPES);
    const token = created.trim().split('\n').pop()!;
    expect(token, created).toMatch(/^sr_/);
    const call = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as any, server: response.headers.get('x-sandrun-server') };
    };
    // haproxy's own checks may see a server up a little after the engine's health check does.
    await waitFor(
      'haproxy sending requests to all three servers',
      async () => {
        const seen = new Set<string | null>();
        for (let i = 0; i < 6; i += 1) seen.add((await call('GET', '/v1/projects')).server);
        return SERVERS.every((service) => seen.has(service)) ? true : undefined;
      },
      60_000,
    );
    const project = await call('POST', '/v1/projects', { name: 'hello', repo_url: repo });
    expect(project.status, JSON.stringify(project.body)).toBe(201);

    const runs = await Promise.all(
      Array.from({ length: 9 }, (_, n) => call('POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'hello', model_name: 'hello', parameters: { n } })),
    );
    for (const [n, run] of runs.entries()) expect(run.body, JSON.stringify(run.body)).toMatchObject({ status: 'success', stdout: `hello ${n}\n`, outputs: { echo: { n } } });
    expect(runs.map((run) => run.body.run_number as number).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // Round robin: each server answered (and ran) some of them.
    expect(new Set(runs.map((run) => run.server)), 'the servers that answered').toEqual(new Set(SERVERS));

    compose('stop', '--timeout', '30', 'sandrun-1');
    const afterStop = await waitFor(
      'a run through the load balancer with sandrun-1 stopped',
      async () => {
        const run = await call('POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'hello', model_name: 'hello', parameters: { n: 10 } });
        return run.status === 200 ? run : undefined;
      },
      60_000,
    );
    expect(afterStop.body).toMatchObject({ status: 'success', run_number: 10, stdout: 'hello 10\n' });
    const listed = await call('GET', '/v1/runs?project_name=hello&limit=50');
    expect(listed.body.runs.map((run: { run_number: number }) => run.run_number).sort((a: number, b: number) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  }, 900_000);
});
