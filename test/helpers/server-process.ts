// sandrun as a real child process (`sandrun serve`, as operators start it), for tests that kill it.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createWriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Scope } from '../../src/auth/principal.ts';
import { loadConfig } from '../../src/config.ts';
import { openStores } from '../../src/sandrun.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
}

export async function startServerProcess(env: Record<string, string>, port: number): Promise<ServerProcess> {
  let output = '';
  // SERVER_NODE_ARGS='--cpu-prof --cpu-prof-dir=/tmp/prof' (or --trace-gc, ...): Node flags for the server, to profile benchmarks.
  const nodeArgs = process.env.SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...nodeArgs, 'bin/sandrun.js', 'serve'], {
    cwd: root,
    env: { ...process.env, SANDRUN_PORT: String(port), SANDRUN_HOST: '127.0.0.1', SANDRUN_ALLOW_LOCAL_REPOS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000)));
  child.stderr?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000)));
  // SERVER_OUTPUT_FILE: a copy of everything the server prints (with --trace-gc, say), for profiling benchmarks.
  if (process.env.SERVER_OUTPUT_FILE) {
    const copy = createWriteStream(process.env.SERVER_OUTPUT_FILE, { flags: 'a' });
    child.stdout?.pipe(copy);
    child.stderr?.pipe(copy);
  }
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}: ${output}`);
    try {
      if ((await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2_000) })).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`server did not become ready: ${output}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { child, url, output: () => output };
}

export async function killHard(server: ServerProcess): Promise<void> {
  if (server.child.exitCode !== null) return;
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGKILL');
  await exited;
}

/** SIGTERM, as an operator would stop it; SIGKILL if it has not exited within the grace period. */
export async function stopGracefully(server: ServerProcess, graceMs = 20_000): Promise<void> {
  if (server.child.exitCode !== null) return;
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** What most tests' tokens may do. */
export const RUN_AND_PROJECT_SCOPES = ['runs:read', 'runs:write', 'projects:read', 'projects:write'] as const;

/**
 * A token made straight in the database a server process will use (as `sandrun tokens create` does), before or
 * between its starts. `settings`: the server's SANDRUN_* variables that name its database (data dir, database URL).
 */
export async function tokenForServer(settings: Record<string, string>, tenantId: string, scopes: readonly Scope[] = RUN_AND_PROJECT_SCOPES): Promise<string> {
  const stores = await openStores(loadConfig(settings));
  try {
    return (await stores.apiTokens.create({ tenantId, scopes: [...scopes] })).token;
  } finally {
    await stores.database.close();
  }
}

export interface ApiAnswer {
  status: number;
  /** The JSON body; null for an empty one. */
  body: any;
  headers: Headers;
}

/**
 * A JSON call to a server process as one token's tenant. Both are read at each call: a server restarted on the same
 * port keeps its URL, and a token made in beforeAll is there by the time the tests call.
 */
export function apiCaller(url: () => string, token: () => string, options: { timeoutMs?: number } = {}) {
  return async (method: string, path: string, body?: unknown): Promise<ApiAnswer> => {
    const response = await fetch(url() + path, {
      method,
      headers: { authorization: `Bearer ${token()}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: options.timeoutMs === undefined ? undefined : AbortSignal.timeout(options.timeoutMs),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : null, headers: response.headers };
  };
}
