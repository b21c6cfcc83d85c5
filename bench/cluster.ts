// Section 11 (SPEC §13): one PostgreSQL database, one engine; 200 runs of the common case through three servers vs one,
// and GET /v1/runs/{id} at 500 req/s spread over three servers while runs start and end.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { delay } from '../src/delay.ts';
import { isTerminal, type RunStatus } from '../src/run-status.ts';
import { startServerGroup, type ServerGroup } from '../test/helpers/server-group.ts';
import type { TestRepo } from '../test/helpers/git-repo.ts';
import { realistic, ratio, timed, trivial } from './bench-requests.ts';
import { percentile, round } from './stats.ts';

/** The same for every server and for both setups: the service's limits, not each server's, are what is compared. */
const SETTINGS = {
  SANDRUN_LOG_LEVEL: 'warn',
  SANDRUN_RATE_LIMIT_PER_MINUTE: '1000000',
  SANDRUN_MAX_QUEUED_RUNS: '1000',
  SANDRUN_TENANT_MAX_QUEUED_RUNS: '1000',
  SANDRUN_MAX_CONCURRENT_RUNS: '8',
  SANDRUN_TENANT_MAX_CONCURRENT_RUNS: '8',
};

interface Cluster {
  group: ServerGroup;
  token: string;
  call(server: number, method: string, path: string, body?: unknown): Promise<any>;
}

async function startCluster(servers: number, repo: TestRepo): Promise<Cluster> {
  const group = await startServerGroup(servers, SETTINGS);
  const token = await group.token('bench');
  const call = async (server: number, method: string, path: string, body?: unknown) => {
    const response = await fetch(group.url(server) + path, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return response.json();
  };
  await call(0, 'POST', '/v1/projects', { name: 'bench', repo_url: repo.dir });
  return { group, token, call };
}

/** `count` async runs submitted at once, round robin over the servers; from the first submission to the last end. */
async function batchOver(cluster: Cluster, servers: number, count: number) {
  // One run per server first: each server's checkout and warm pool are ready, as they would be in service.
  for (let server = 0; server < servers; server += 1) await cluster.call(server, 'POST', '/v1/runs', realistic);
  const statuses = new Map<string, number>();
  const ms = await timed(async () => {
    const receipts = await Promise.all(Array.from({ length: count }, (_, i) => cluster.call(i % servers, 'POST', '/v1/runs', { ...realistic, mode: 'async' })));
    for (const [i, receipt] of receipts.entries()) {
      if (typeof receipt.run_id !== 'string') throw new Error(`submission refused: ${JSON.stringify(receipt)}`);
      for (;;) {
        const run = await cluster.call(i % servers, 'GET', `/v1/runs/${receipt.run_id as string}`);
        if (isTerminal(run.status as RunStatus)) {
          statuses.set(run.status as string, (statuses.get(run.status as string) ?? 0) + 1);
          break;
        }
        await delay(50);
      }
    }
  });
  return { ms: round(ms), statuses: Object.fromEntries(statuses) };
}

export async function cluster(repo: TestRepo, count = 200) {
  console.log(`\n11. Several servers on one PostgreSQL and one engine: ${count} runs of the common case over three servers vs one; GET /v1/runs/{id} at 500 req/s over three`);
  const results: Record<string, unknown> = {};
  for (const servers of [1, 3]) {
    const one = await startCluster(servers, repo);
    try {
      results[`servers${servers}`] = await batchOver(one, servers, count);
      console.log(`  ${servers} server(s): ${JSON.stringify(results[`servers${servers}`])}`);
      if (servers === 3) results.getRun = await getRunSpread(one);
    } finally {
      await one.group.close();
    }
  }
  const oneMs = (results.servers1 as { ms: number }).ms;
  const threeMs = (results.servers3 as { ms: number }).ms;
  results.threeOverOne = ratio(threeMs, oneMs);
  console.log(`  three servers / one: ${String(results.threeOverOne)} (the engine is shared: three servers spread the API's CPU, not the engine's)`);
  return results;
}

/** 500 req/s in three load generators of their own, one per server, while 4 runs of 3 s start, execute and end. */
async function getRunSpread(cluster: Cluster, rate = 500, seconds = 5) {
  const done = await cluster.call(0, 'POST', '/v1/runs', trivial);
  const perServer = Math.round(rate / 3);
  const generators = [0, 1, 2].map((server) => {
    const child = spawn(process.execPath, ['bench/load-generator.js', `${cluster.group.url(server)}/v1/runs/${done.run_id as string}`, cluster.token, String(perServer), String(seconds), '500'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    // Taken at once: a generator may exit while the one before it is awaited.
    const exited = once(child, 'exit') as Promise<[number | null]>;
    return { exited, output: () => output };
  });
  while (!generators.every((generator) => generator.output().includes('measuring\n'))) await delay(20);
  const background = [0, 1, 2, 0].map((server) => cluster.call(server, 'POST', '/v1/runs', { ...trivial, model_name: 'sleep3' }));
  const latencies: number[] = [];
  for (const generator of generators) {
    const [code] = await generator.exited;
    if (code !== 0) throw new Error(`a load generator exited with ${code}`);
    const text = generator.output();
    latencies.push(...(JSON.parse(text.slice(text.indexOf('{'))) as { latencies: number[] }).latencies);
  }
  await Promise.all(background);
  const result = { requests: latencies.length, p50Ms: round(percentile(latencies, 50), 2), p99Ms: round(percentile(latencies, 99), 2), maxMs: round(Math.max(...latencies), 1) };
  console.log(`  GET /v1/runs/{id} over three servers: p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms (target < 10), max ${result.maxMs} ms, ${result.requests} requests`);
  return result;
}
