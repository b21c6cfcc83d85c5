// docker-compose.yml end to end: it validates, builds the server image, comes up healthy against the host's engine, runs one run, speaks MCP, goes down.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { execFileSync, spawnSync } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from '../helpers/server-process.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PROJECT = `sandrun-e2e-${process.pid}`;
const SCOPES = 'runs:read,runs:write,projects:read,projects:write';
/** The name a reverse proxy in front of the deployment would pass on as Host (never resolved: the test sends it as a header). */
const PUBLIC_HOST = 'sandrun.compose.test';

/** docker-compose on PATH, installed from Debian's packages when absent; the reason when that cannot be done. */
function ensureCompose(): string | undefined {
  if (spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0) return undefined;
  const install = spawnSync('apt-get', ['install', '-y', '-qq', 'docker-compose'], { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0) return undefined;
  return `docker-compose is absent and could not be installed: ${(install.stderr || install.error?.message || '').trim().slice(-300)}`;
}

const skipReason = ensureCompose();
if (skipReason) process.stderr.write(`compose.test.ts skipped: ${skipReason}\n`);


let dataDir: string;
let port: number;
let env: NodeJS.ProcessEnv;

function compose(...args: string[]): string {
  // stdin closed: `exec -T` waits for its end; a timeout, as a synchronous call would block vitest's own.
  const result = spawnSync('docker-compose', ['-p', PROJECT, ...args], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 240_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0) throw new Error(`docker-compose ${args.join(' ')} exited ${result.status ?? result.signal}:\n${result.stderr.slice(-3000)}`);
  return result.stdout;
}

async function waitForReady(url: string, timeoutMs: number): Promise<unknown> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = 'no answer';
  while (Date.now() < deadline) {
    try {
      // The port is published (docker-proxy accepts) before the server listens: a request may hang, so each has a timeout.
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      last = await response.json();
      if (response.ok) return last;
    } catch (error) {
      last = error instanceof Error ? error.message : error;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`${url} never became ready: ${JSON.stringify(last)}`);
}

describe.skipIf(skipReason !== undefined)('docker-compose deployment', () => {
  beforeAll(async () => {
    execFileSync('bash', ['scripts/server-image.sh'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
    dataDir = mkdtempSync(join(tmpdir(), 'sandrun-compose-'));
    port = await freePort();
    env = { ...process.env, SANDRUN_DATA_DIR: dataDir, SANDRUN_PUBLISH_PORT: String(port), SANDRUN_ALLOW_LOCAL_REPOS: '1', SANDRUN_PUBLIC_URL: `https://${PUBLIC_HOST}` };
  }, 300_000);

  afterAll(() => {
    if (!env) return;
    try {
      compose('down', '--volumes', '--remove-orphans', '--timeout', '30');
      // Each rebuild of sandrun/server:local leaves the previous image untagged (hundreds of MB each).
      execFileSync('docker', ['image', 'prune', '--force', '--filter', 'label=sandrun.server=true'], { stdio: 'ignore' });
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);

  it('validates, builds, comes up healthy and runs a model through the containerised server', async () => {
    compose('config', '-q');
    compose('build', '-q');
    compose('up', '-d');
    const ready = await waitForReady(`http://127.0.0.1:${port}/readyz`, 90_000);
    expect(ready).toMatchObject({ status: 'ready', checks: { database: 'ok', engine: 'ok' } });

    // A repository inside the data directory: the one path the container shares with the host.
    const repo = join(dataDir, 'source', 'hello');
    mkdirSync(join(repo, 'models'), { recursive: true });
    writeFileSync(join(repo, 'models', 'hello.py'), 'import json\np = json.load(open("/inputs/parameters.json"))\nprint("hello", p["who"])\njson.dump({"who": p["who"]}, open("/outputs/greeting.json", "w"))\n');
    writeFileSync(join(repo, 'models', 'secret.py'), 'v = open("/run/secrets/GREETING").read()\nprint(len(v), v)\n');
    const git = (...args: string[]) => execFileSync('git', ['-C', repo, ...args], { stdio: 'ignore' });
    git('init', '-q', '-b', 'main');
    git('add', '.');
    git('-c', 'user.name=t', '-c', 'user.email=t@sandrun.invalid', 'commit', '-qm', 'hello');

    const created = compose('exec', '-T', 'sandrun', 'node', 'bin/sandrun.js', 'tokens', 'create', '--tenant', 'compose', '--scopes', SCOPES);
    const token = created.trim().split('\n').pop()!;
    expect(token, created).toMatch(/^sr_/);
    const call = async (method: string, path: string, body: unknown) => {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as any };
    };
    const project = await call('POST', '/v1/projects', { name: 'hello', repo_url: repo });
    expect(project.status, JSON.stringify(project.body)).toBe(201);
    const run = await call('POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'hello', model_name: 'hello', parameters: { who: 'compose' } });
    expect(run.body, JSON.stringify(run.body)).toMatchObject({ status: 'success', exit_code: 0, stdout: 'hello compose\n', outputs: { greeting: { who: 'compose' } } });
    // A secret crosses from the containerised server to the run's container through the host's tmpfs.
    expect((await call('PUT', '/v1/projects/hello/secrets/GREETING', { value: 'bonjour-compose' })).status).toBe(201);
    const secretRun = await call('POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'hello', model_name: 'secret' });
    expect(secretRun.body, JSON.stringify(secretRun.body)).toMatchObject({ status: 'success', stdout: '15 ***\n' });

    const health = execFileSync('docker', ['inspect', '-f', '{{.State.Health.Status}}', `${PROJECT}_sandrun_1`], { encoding: 'utf8' }).trim();
    expect(['healthy', 'starting']).toContain(health);

    // MCP on the published port (not the 8080 the server binds in its container): initialize, then tools/list.
    const client = new Client({ name: 'compose-test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${port}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
    try {
      const { tools } = await client.listTools();
      expect(tools.map((tool) => tool.name).sort()).toEqual(['cancel_run', 'get_run', 'list_models', 'list_projects', 'list_runs', 'run']);
      const projects = await client.callTool({ name: 'list_projects', arguments: {} });
      expect(projects.structuredContent).toMatchObject({ projects: [expect.objectContaining({ name: 'hello' })] });
    } finally {
      await client.close();
    }

    // Behind a proxy that passes its own host name on: SANDRUN_PUBLIC_URL's host is accepted, any other is not.
    const initializeWithHost = (host: string) =>
      new Promise<number>((resolve, reject) => {
        const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'proxy', version: '1' } } });
        const outgoing = httpRequest(
          {
            host: '127.0.0.1',
            port,
            path: '/mcp',
            method: 'POST',
            headers: { host, authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'content-length': Buffer.byteLength(body) },
          },
          (response) => {
            response.resume();
            resolve(response.statusCode ?? 0);
          },
        );
        outgoing.on('error', reject);
        outgoing.end(body);
      });
    expect(await initializeWithHost(PUBLIC_HOST), 'the public host').toBe(200);
    expect(await initializeWithHost('evil.example'), 'another host (DNS rebinding)').toBe(403);
  }, 300_000);
});
