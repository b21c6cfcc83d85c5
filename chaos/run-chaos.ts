// The chaos run: a mix of runs from two tenants while the server is SIGKILLed and the engine goes away; then the books are checked.
import Dockerode from 'dockerode';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '../src/config.ts';
import { openStores } from '../src/sandrun.ts';
import { EngineProxy } from '../test/helpers/engine-proxy.ts';
import { TestRepo } from '../test/helpers/git-repo.ts';
import { freePort, killHard, startServerProcess, stopGracefully, type ServerProcess } from '../test/helpers/server-process.ts';
import { CHAOS_FILES, CHAOS_MODELS, EXPECTED, type ChaosModel } from './chaos-project.ts';
import { checkInvariants, type Invariant, type RunRow } from './invariants.ts';

const execFileAsync = promisify(execFile);

export interface ChaosOptions {
  runs: number;
  kills: number;
  /** `proxy` cuts this server off the engine (safe beside other tests); `restart` restarts the real engine. */
  engine: 'proxy' | 'restart';
  seed?: number;
  log?: (line: string) => void;
}

export interface ChaosReport {
  submitted: number;
  accepted: number;
  kills: number;
  engineOutages: number;
  byStatus: Record<string, number>;
  invariants: Invariant[];
  seconds: number;
}

/** A small deterministic generator, so a failing chaos run can be replayed with its seed. */
function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => undefined);
  const next = random(options.seed ?? Date.now());
  const started = performance.now();
  const dataDir = mkdtempSync(join(tmpdir(), 'sandrun-chaos-'));
  const repo = new TestRepo(CHAOS_FILES);
  const stores = await openStores(loadConfig({ SANDRUN_DATA_DIR: dataDir }));
  const scopes = ['runs:read', 'runs:write', 'projects:read', 'projects:write'] as const;
  const tokens = { a: (await stores.apiTokens.create({ tenantId: 'chaos-a', scopes: [...scopes] })).token, b: (await stores.apiTokens.create({ tenantId: 'chaos-b', scopes: [...scopes] })).token };
  await stores.database.close();
  const proxy = options.engine === 'proxy' ? new EngineProxy(join(dataDir, 'engine.sock')) : undefined;
  await proxy?.up();
  const env = {
    SANDRUN_DATA_DIR: dataDir,
    SANDRUN_LOG_LEVEL: 'warn',
    SANDRUN_MAX_CONCURRENT_RUNS: '4',
    SANDRUN_SHUTDOWN_GRACE_SECONDS: '0',
    SANDRUN_RATE_LIMIT_PER_MINUTE: '100000',
    ...(proxy ? { DOCKER_HOST: proxy.dockerHost } : {}),
  };
  const port = await freePort();
  let server: ServerProcess = await startServerProcess(env, port);
  const accepted = new Map<string, { tenant: 'a' | 'b'; model: ChaosModel }>();
  let kills = 0;
  let engineOutages = 0;
  try {
    const call = async (tenant: 'a' | 'b', method: string, path: string, body?: unknown): Promise<any> => {
      const response = await fetch(server.url + path, {
        method,
        headers: { authorization: `Bearer ${tokens[tenant]}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        // A request must not hang the tool: the longest sync run of the mix takes seconds.
        signal: AbortSignal.timeout(60_000),
      });
      return { status: response.status, body: await response.json() };
    };
    for (const tenant of ['a', 'b'] as const) await call(tenant, 'POST', '/v1/projects', { name: 'chaos', repo_url: repo.dir });

    // Distinct points: two draws of the same run made one kill where the report promised two.
    const killAt = new Set<number>();
    while (killAt.size < Math.min(options.kills, options.runs - 1)) killAt.add(1 + Math.floor(next() * (options.runs - 1)));
    const outageAt = Math.floor(options.runs / 2);
    const inFlight: Promise<void>[] = [];
    for (let i = 0; i < options.runs; i += 1) {
      if (killAt.has(i)) {
        log(`run ${i}: SIGKILL the server`);
        await killHard(server);
        kills += 1;
        server = await startServerProcess(env, port);
      }
      if (i === outageAt) {
        log(`run ${i}: the engine goes away (${options.engine})`);
        engineOutages += 1;
        await engineOutage(options.engine, proxy);
      }
      const tenant = next() < 0.5 ? 'a' : 'b';
      const model = CHAOS_MODELS[Math.floor(next() * CHAOS_MODELS.length)]!;
      const mode = model !== 'long' && next() < 0.25 ? 'sync' : 'async';
      inFlight.push(
        call(tenant, 'POST', '/v1/runs', { scope: 'model', mode, project_name: 'chaos', model_name: model })
          .then(async ({ status, body }) => {
            if (status !== 200 && status !== 202) return;
            accepted.set(body.run_id, { tenant, model });
            if (model === 'long') {
              await new Promise((resolve) => setTimeout(resolve, 300 + next() * 700));
              await call(tenant, 'POST', `/v1/runs/${body.run_id}/cancel`);
            }
          })
          .catch(() => undefined), // the server was killed under this request: the books will tell
      );
      await new Promise((resolve) => setTimeout(resolve, next() * 150));
    }
    await Promise.all(inFlight);
    if (server.child.exitCode !== null) server = await startServerProcess(env, port);
    await waitForAllTerminal(dataDir, 150_000);
  } finally {
    // Also when the tool fails: no server process, and so no container of its, is left behind.
    await stopGracefully(server);
    await proxy?.down();
  }

  try {
    return await finish(dataDir, accepted, { submitted: options.runs, kills, engineOutages, started });
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    repo.remove();
  }
}

async function engineOutage(kind: 'proxy' | 'restart', proxy: EngineProxy | undefined): Promise<void> {
  if (kind === 'proxy') {
    await proxy!.down();
    await new Promise((resolve) => setTimeout(resolve, 2000));
    await proxy!.up();
    return;
  }
  await execFileAsync('pkill', ['-x', 'dockerd']).catch(() => undefined);
  for (let i = 0; i < 150 && (await execFileAsync('pgrep', ['-x', 'dockerd']).then(() => true, () => false)); i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  await execFileAsync('bash', [join(import.meta.dirname, '..', 'scripts', 'engine.sh')]);
}

async function waitForAllTerminal(dataDir: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stores = await openStores(loadConfig({ SANDRUN_DATA_DIR: dataDir }));
    const open = (stores.database.sqlite!.prepare("SELECT COUNT(*) AS n FROM runs WHERE status IN ('pending', 'running')").get() as { n: number }).n;
    await stores.database.close();
    if (open === 0 || Date.now() > deadline) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function finish(
  dataDir: string,
  accepted: Map<string, { tenant: 'a' | 'b'; model: ChaosModel }>,
  counts: { submitted: number; kills: number; engineOutages: number; started: number },
): Promise<ChaosReport> {
  const instanceId = readFileSync(join(dataDir, 'instance-id'), 'utf8').trim();
  const containers = await new Dockerode().listContainers({ all: true, filters: { label: [`sandrun.instance=${instanceId}`] } });
  const runsDir = join(dataDir, 'runs');
  const leftoverDirs = existsSync(runsDir) ? readdirSync(runsDir) : [];
  const checkoutTemps = existsSync(join(dataDir, 'checkouts'))
    ? readdirSync(join(dataDir, 'checkouts'), { recursive: true }).map(String).filter((name) => /\.tmp|\.partial|\.lock/.test(name))
    : [];
  const stores = await openStores(loadConfig({ SANDRUN_DATA_DIR: dataDir }));
  const rows = stores.database.sqlite!.prepare('SELECT id, tenant_id, project_id, run_number, model_name, status, error_code, exit_code, COALESCE(error_message, substr(stderr, 1, 300)) AS stderr, stdout_truncated FROM runs').all() as RunRow[];
  const integrity = stores.database.sqlite!.pragma('integrity_check', { simple: true }) as string;
  await stores.database.close();
  const byStatus: Record<string, number> = {};
  for (const row of rows) byStatus[row.status] = (byStatus[row.status] ?? 0) + 1;
  const invariants = checkInvariants({ rows, accepted, expected: EXPECTED, containers: containers.map((c) => c.Names.join(',')), leftoverDirs, checkoutTemps, integrity });
  return { submitted: counts.submitted, accepted: accepted.size, kills: counts.kills, engineOutages: counts.engineOutages, byStatus, invariants, seconds: Math.round((performance.now() - counts.started) / 100) / 10 };
}
