// Property-based fuzzing of the whole HTTP surface against `sandrun serve` as a child process: no request, however malformed, stops or bloats it.
//
// Replay a failure with the seed it printed: SANDRUN_FUZZ_SEED=<seed> npx vitest run test/e2e/fuzz.test.ts
import Dockerode from 'dockerode';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { openStores } from '../../src/sandrun.ts';
import { sendRaw } from '../helpers/fuzz-raw-requests.ts';
import { describeRequest, fuzzRequest, refusedByParser, sendHttp, type Answer, type Credentials, type FuzzRequest } from '../helpers/fuzz-requests.ts';
import { freePort, startServerProcess, stopGracefully, type ServerProcess } from '../helpers/server-process.ts';

const SEED = process.env.SANDRUN_FUZZ_SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.SANDRUN_FUZZ_SEED);
/** Requests in flight at once (each property run sends this many together). */
const CONCURRENCY = 24;
const MAX_RSS_MB = 300;

const docker = new Dockerode();
const started: { server: ServerProcess; dataDir: string }[] = [];

interface Tally {
  sent: number;
  statuses: Map<number, number>;
  unanswered: number;
}

/** A server on a fresh data directory, with tokens of two tenants that have no projects (so no request can start a run). */
async function startFuzzTarget(env: Record<string, string>): Promise<{ server: ServerProcess; credentials: Credentials; instanceId: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sandrun-fuzz-'));
  const stores = await openStores(loadConfig({ SANDRUN_DATA_DIR: dataDir }));
  // No projects:write and no admin (which implies it): a random body must never register a repository URL to fetch.
  const scopes = ['runs:read', 'runs:write', 'projects:read'] as const;
  const token = async (tenant: string, tokenScopes: readonly (typeof scopes)[number][] = scopes, expiresAt?: Date) =>
    (await stores.apiTokens.create({ tenantId: tenant, scopes: [...tokenScopes], expiresAt })).token;
  const revoked = await stores.apiTokens.create({ tenantId: 'fuzz-a', scopes: ['runs:read'] });
  await stores.apiTokens.revoke(revoked.record.id);
  const credentials = {
    valid: [await token('fuzz-a'), await token('fuzz-a'), await token('fuzz-a', ['runs:read']), await token('fuzz-b')].map((value) => `Bearer ${value}`),
    dead: [`Bearer ${revoked.token}`, `Bearer ${await token('fuzz-a', scopes, new Date(Date.now() - 1_000))}`],
  };
  await stores.database.close();
  const server = await startServerProcess(
    { SANDRUN_DATA_DIR: dataDir, SANDRUN_LOG_LEVEL: 'warn', SANDRUN_ALLOW_LOCAL_REPOS: '0', SANDRUN_MAX_CONCURRENT_RUNS: '1', SANDRUN_POOL_SIZE: '0', ...env },
    await freePort(),
  );
  started.push({ server, dataDir });
  return { server, credentials, instanceId: readFileSync(join(dataDir, 'instance-id'), 'utf8').trim() };
}

function isServerError(answer: Answer): boolean {
  return answer.status !== undefined && answer.status >= 500 && answer.status !== 503;
}

/**
 * What an answer must not be: a 5xx other than 503, a 429 without Retry-After, or none at all for a request node:http
 * could send (a raw one, or one Node's parser refuses, may be cut off instead: the protocol allows it).
 */
function problemWith(request: FuzzRequest, answer: Answer): string | undefined {
  if (isServerError(answer)) return `answered ${answer.status}`;
  if (request.kind === 'http' && answer.status === 429 && answer.retryAfter === undefined) return 'answered 429 without Retry-After';
  if (request.kind === 'http' && answer.status === undefined && !answer.error?.startsWith('not sent') && !refusedByParser(request)) return `no answer: ${answer.error}`;
  return undefined;
}

/** Sends `runs` rounds of CONCURRENCY generated requests; fails on the first round with a bad answer (no shrinking: the seed replays it). */
async function fuzz(server: ServerProcess, credentials: Credentials, runs: number, seed: number, validWeight?: number): Promise<Tally> {
  const port = Number(new URL(server.url).port);
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const tally: Tally = { sent: 0, statuses: new Map(), unanswered: 0 };
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(fuzzRequest(credentials, port, validWeight), { minLength: CONCURRENCY, maxLength: CONCURRENCY }), async (requests) => {
        const answers = await Promise.all(requests.map((request) => (request.kind === 'http' ? sendHttp(port, agent, request) : sendRaw(port, request))));
        const problems: string[] = [];
        answers.forEach((answer, i) => {
          if (answer.error?.startsWith('not sent')) return;
          tally.sent += 1;
          if (answer.status === undefined) tally.unanswered += 1;
          else tally.statuses.set(answer.status, (tally.statuses.get(answer.status) ?? 0) + 1);
          const problem = problemWith(requests[i]!, answer);
          if (problem) problems.push(`${problem}: ${describeRequest(requests[i]!)}`);
        });
        if (server.child.exitCode !== null) problems.push(`the server exited (${server.child.exitCode}): ${server.output().slice(-3000)}`);
        if (problems.length > 0) throw new Error(`seed ${seed}: ${problems.join('\n')}`);
      }),
      { seed, numRuns: runs, endOnFailure: true },
    );
  } finally {
    agent.destroy();
  }
  return tally;
}

/** The server's resident memory, from /proc (MB). */
function rssMb(server: ServerProcess): number {
  const status = readFileSync(`/proc/${server.child.pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
}

async function expectUnharmed(server: ServerProcess, instanceId: string, what: string): Promise<number> {
  expect(server.child.exitCode, `${what}: the server exited: ${server.output().slice(-3000)}`).toBeNull();
  const health = await fetch(`${server.url}/healthz`);
  expect(health.status, `${what}: /healthz`).toBe(200);
  const leaked = await docker.listContainers({ all: true, filters: { label: ['sandrun.managed=true', `sandrun.instance=${instanceId}`] } });
  expect(leaked.map((container) => container.Names.join(',')), `${what}: containers of this server left behind`).toEqual([]);
  const rss = rssMb(server);
  expect(rss, `${what}: server RSS in MB`).toBeLessThan(MAX_RSS_MB);
  return rss;
}

const summary = (tally: Tally) =>
  [...tally.statuses.entries()]
    .sort(([a], [b]) => a - b)
    .map(([status, count]) => `${status}×${count}`)
    .join(' ');

afterAll(async () => {
  for (const { server, dataDir } of started) {
    await stopGracefully(server);
    rmSync(dataDir, { recursive: true, force: true });
  }
});

describe('fuzzing the HTTP surface', () => {
  it('thousands of hostile requests with a high rate limit: the server lives, answers /healthz, never 5xx but 503, leaks nothing, stays small', async () => {
    console.log(`fuzz: seed ${SEED} (replay with SANDRUN_FUZZ_SEED=${SEED})`);
    const { server, credentials, instanceId } = await startFuzzTarget({ SANDRUN_RATE_LIMIT_PER_MINUTE: '10000000' });
    const tally = await fuzz(server, credentials, 220, SEED);
    const rss = await expectUnharmed(server, instanceId, 'after the high-limit fuzz');
    console.log(`fuzz (high rate limit): ${tally.sent} requests sent, seed ${SEED}, server RSS ${rss.toFixed(0)} MB at the end; statuses ${summary(tally)}; ${tally.unanswered} raw without an answer`);
    expect(tally.sent).toBeGreaterThanOrEqual(5_000);
  }, 240_000);

  it('under the default rate limit: 429s carry Retry-After, and the server is unharmed as well', async () => {
    const { server, credentials, instanceId } = await startFuzzTarget({});
    // Mostly valid tokens, so that the tenants' buckets run dry.
    const tally = await fuzz(server, credentials, 100, SEED + 1, 30);
    const rss = await expectUnharmed(server, instanceId, 'after the default-limit fuzz');
    console.log(`fuzz (default rate limit): ${tally.sent} requests sent, seed ${SEED + 1}, server RSS ${rss.toFixed(0)} MB at the end; statuses ${summary(tally)}`);
    expect(tally.statuses.get(429) ?? 0, 'the default limit was reached').toBeGreaterThan(0);
  }, 240_000);
});
