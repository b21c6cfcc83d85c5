// The benchmark sections of `npm run bench`; each returns a JSON-able summary and prints as it goes.
import Dockerode from 'dockerode';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadConfig } from '../src/config.ts';
import { openStores } from '../src/sandrun.ts';
import { TestRepo } from '../test/helpers/git-repo.ts';
import { buildNoShellImage, removeImage } from '../test/helpers/no-shell-image.ts';
import { createTestSandbox } from '../test/helpers/sandbox.ts';
import { freePort, startServerProcess, stopGracefully } from '../test/helpers/server-process.ts';
import { TRIVIAL_COMMAND, bareDockerRun, bareRealisticRun } from './bare-docker.ts';
import { BENCH_MODELS, startBenchServer, type BenchServer } from './bench-server.ts';
import { highCpuWeightGroup, type CpuPriority } from './cpu-priority.ts';
import { rawDockerodeCycle } from './raw-cycle.ts';
import { percentile, printRow, round, summarize } from './stats.ts';
import { SETTLE_MS, interleaved, readsParameters, realistic, ratio, syncRun, timed, trivial } from './bench-requests.ts';

const execFileAsync = promisify(execFile);
const IMAGE = 'sandrun/python:3.11';

/**
 * 1. Sync runs over HTTP: the common case and a trivial model (pool hit), a pool miss, against bare docker run and a raw
 * dockerode cycle. Each measured request begins SETTLE_MS after the one before ended, as a client's next run would.
 */
export async function latency(repo: TestRepo, n: number) {
  console.log(`\n1. sync runs over HTTP vs bare \`docker run --rm --network none ${IMAGE} ${TRIVIAL_COMMAND.join(' ')}\` and the common case bare, interleaved, ${SETTLE_MS} ms apart, n=${n}`);
  const warm = await startBenchServer({}, { repo });
  const cold = await startBenchServer({ SANDRUN_POOL_SIZE: '0' }, { repo });
  const docker = new Dockerode();
  const workspace = mkdtempSync(join(tmpdir(), 'sandrun-bench-ws-'));
  const bareRealistic = bareRealisticRun();
  try {
    await syncRun(warm);
    await syncRun(warm, realistic);
    await syncRun(warm, readsParameters);
    await syncRun(cold);
    await bareDockerRun(IMAGE);
    await bareDockerRun(IMAGE, bareRealistic);
    const { summaries, median: m } = await interleaved(n, {
      httpPoolHitWithOutputs: () => syncRun(warm, realistic),
      httpPoolHit: () => syncRun(warm),
      httpPoolHitReadsParameters: () => syncRun(warm, readsParameters),
      httpPoolMiss: () => syncRun(cold),
      bareDockerRun: () => bareDockerRun(IMAGE),
      bareDockerRunWithOutputs: () => bareDockerRun(IMAGE, bareRealistic),
      rawDockerodeCycle: () => rawDockerodeCycle(docker, IMAGE, workspace),
    });
    const ratios = {
      outputsHitVsBare: ratio(m('httpPoolHitWithOutputs'), m('bareDockerRun')),
      outputsHitVsBareSameModel: ratio(m('httpPoolHitWithOutputs'), m('bareDockerRunWithOutputs')),
      outputsHitVsHit: ratio(m('httpPoolHitWithOutputs'), m('httpPoolHit')),
      outputsHitVsSameModelWithoutOutputs: ratio(m('httpPoolHitWithOutputs'), m('httpPoolHitReadsParameters')),
      hitVsBare: ratio(m('httpPoolHit'), m('bareDockerRun')),
      missVsBare: ratio(m('httpPoolMiss'), m('bareDockerRun')),
      hitVsRawCycle: ratio(m('httpPoolHit'), m('rawDockerodeCycle')),
      missVsRawCycle: ratio(m('httpPoolMiss'), m('rawDockerodeCycle')),
    };
    console.log(`  ratios (medians): hit with outputs/bare ${ratios.outputsHitVsBare} (target ≤ 0.15), the same/bare of the same model ${ratios.outputsHitVsBareSameModel}, hit with outputs/hit ${ratios.outputsHitVsHit} (≤ 1.25), the same/the same model without its outputs ${ratios.outputsHitVsSameModelWithoutOutputs}`);
    console.log(`  ratios (medians): hit/bare ${ratios.hitVsBare} (target ≤ 0.5), miss/bare ${ratios.missVsBare} (≤ 1.1), hit/raw cycle ${ratios.hitVsRawCycle} (≤ 0.7), miss/raw cycle ${ratios.missVsRawCycle}`);
    return { settleMs: SETTLE_MS, ...summaries, ratios };
  } finally {
    await warm.stop();
    await cold.stop();
    rmSync(workspace, { recursive: true, force: true });
    bareRealistic.remove();
  }
}

/** 0. The sandbox alone (no HTTP, no pool) against bare docker run. */
export async function sandboxAlone(n: number) {
  console.log(`\n0. the Docker sandbox alone (cold, no pool) vs bare docker run, interleaved, n=${n}`);
  return sandboxAgainstBare('sandbox', IMAGE, n);
}

/** 0b. An image without a shell: the direct path (the command as the container's process, a helper holding /outputs). */
export async function shellFree(n: number) {
  console.log(`\n0b. an image without a shell: the sandbox's direct path vs bare docker run of that image, interleaved, n=${n}`);
  const image = buildNoShellImage('bench-no-shell');
  try {
    return await sandboxAgainstBare('direct', image, n);
  } finally {
    removeImage(image);
  }
}

/** A trivial run of the image through the sandbox backend and through bare `docker run`, interleaved, after one unmeasured run. */
async function sandboxAgainstBare(label: string, image: string, n: number) {
  const sandbox = await createTestSandbox();
  try {
    const workspace = await sandbox.workspace({});
    const once = () => sandbox.backend.run(sandbox.spec({ image, command: TRIVIAL_COMMAND, workspaceDir: workspace }));
    await once(); // a shell-less image is found out here
    const viaSandbox: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i < n; i += 1) {
      viaSandbox.push(await timed(once));
      bare.push(await bareDockerRun(image));
    }
    const result = { [label]: summarize(viaSandbox), bareDockerRun: summarize(bare), ratio: ratio(summarize(viaSandbox).medianMs, summarize(bare).medianMs) };
    printRow(label, summarize(viaSandbox));
    printRow('bareDockerRun', result.bareDockerRun);
    console.log(`  ratio ${label} / bare (medians): ${result.ratio}`);
    return result;
  } finally {
    await sandbox.cleanup();
  }
}

/** 2. 100 async runs submitted at once with concurrency 4, against `xargs -P4` of 100 bare docker runs. */
export async function batch(repo: TestRepo, count = 100) {
  console.log(`\n2. ${count} runs submitted async at once, concurrency 4, vs xargs -P4 of ${count} bare docker runs`);
  const server = await startBenchServer({ SANDRUN_MAX_CONCURRENT_RUNS: '4', SANDRUN_TENANT_MAX_CONCURRENT_RUNS: '4' }, { repo });
  try {
    await syncRun(server);
    const sandrunMs = await timed(async () => {
      const receipts = await Promise.all(Array.from({ length: count }, () => server.call('POST', '/v1/runs', { ...trivial, mode: 'async' })));
      for (const receipt of receipts) {
        for (;;) {
          const run = await server.call('GET', `/v1/runs/${receipt.run_id}`);
          if (!['pending', 'running'].includes(run.status)) break;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    });
    const script = `seq ${count} | xargs -P4 -I{} docker run --rm --network none ${IMAGE} ${TRIVIAL_COMMAND.map((part) => `'${part}'`).join(' ')} >/dev/null`;
    const bareMs = await timed(() => execFileAsync('bash', ['-c', script]));
    const result = { sandrunMs: round(sandrunMs), xargsBareDockerMs: round(bareMs), ratio: ratio(sandrunMs, bareMs) };
    console.log(`  sandrun ${result.sandrunMs} ms, xargs -P4 docker run ${result.xargsBareDockerMs} ms, ratio ${result.ratio} (target ≤ 0.8)`);
    return result;
  } finally {
    await server.stop();
  }
}

/**
 * 3. GET /v1/runs/{id} at a fixed 500 requests/s for 5 s while 4 runs start, execute and end; the load comes from a
 * process of its own. Measured twice, each on a fresh server: with the machine's default scheduling, then with the server and
 * the load generator in a CPU cgroup of high weight, as docs/operations.md recommends for the API.
 */
export async function getRunUnderLoad(repo: TestRepo, rate = 500, seconds = 5) {
  console.log(`\n3. GET /v1/runs/{id} at ${rate} req/s for ${seconds} s while 4 runs start, execute and end (load from its own process)`);
  const priority = highCpuWeightGroup();
  const phases: Record<string, unknown> = {};
  try {
    for (const phase of ['defaultScheduling', 'apiPrioritized'] as const) {
      if (phase === 'apiPrioritized' && typeof priority === 'string') {
        console.log(`  API prioritized: not measured, ${priority}`);
        break;
      }
      phases[phase] = await measure(phase, phase === 'apiPrioritized' ? (priority as CpuPriority) : undefined);
    }
    return { ...phases, ...(typeof priority === 'string' ? { apiPrioritizedUnavailable: priority } : { priority: priority.description }) };
  } finally {
    if (typeof priority !== 'string') priority.remove();
  }

  /** One phase, on a fresh server: the same engine work (pool misses, parks, removals) in both. */
  async function measure(phase: string, group: CpuPriority | undefined) {
    const server = await startBenchServer({}, { repo });
    try {
      if (group) group.add(server.process.child.pid!);
      const done = await server.call('POST', '/v1/runs', trivial);
      const before = await scrape(server);
      const load = await loadFromOwnProcess(server, `${server.process.url}/v1/runs/${done.run_id}`, rate, seconds, group);
      const serverSide = serverView(before, await scrape(server), 'GET', '/v1/runs/:runId');
      const result = { p50Ms: round(percentile(load.latencies, 50), 2), p99Ms: round(percentile(load.latencies, 99), 2), maxMs: round(Math.max(...load.latencies), 1), requestsPerSecond: round(load.latencies.length / load.elapsedSeconds), ...serverSide };
      const label = group ? `API prioritized, ${group.description}` : 'default scheduling';
      console.log(`  ${label}: p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms (target < 10), max ${result.maxMs} ms, ${result.requestsPerSecond} req/s`);
      console.log(
        `    server side (${phase}): ${serverSide.serverWithin10MsPercent} % answered within 10 ms, ${serverSide.serverWithin1MsPercent} % within 1 ms; ` +
          `event loop stalled p99 ${serverSide.eventLoopStallP99Ms} ms, max ${serverSide.eventLoopStallMaxMs} ms`,
      );
      return result;
    } finally {
      await server.stop();
    }
  }

  /** Runs the load generator; once it has warmed up, 4 runs of 3 s are started, so they begin and end inside the window. */
  async function loadFromOwnProcess(server: BenchServer, url: string, rps: number, secs: number, group: CpuPriority | undefined) {
    const child = spawn(process.execPath, ['bench/load-generator.js', url, server.token, String(rps), String(secs), '500'], { stdio: ['ignore', 'pipe', 'inherit'] });
    if (group) group.add(child.pid!);
    let output = '';
    let background: Promise<unknown>[] = [];
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (background.length === 0 && output.includes('measuring\n')) {
        background = Array.from({ length: 4 }, () => server.call('POST', '/v1/runs', { ...trivial, model_name: 'sleep3' }));
      }
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    if (code !== 0) throw new Error(`the load generator exited with ${code}`);
    await Promise.all(background);
    return JSON.parse(output.slice(output.indexOf('{'))) as { latencies: number[]; elapsedSeconds: number };
  }
}

async function scrape(server: BenchServer): Promise<string> {
  return (await fetch(`${server.process.url}/metrics`)).text();
}

/** prom-client's default `eventLoopMonitoringPrecision`. */
const EVENT_LOOP_SAMPLING_MS = 10;

/** What the server itself saw between two scrapes: its request-duration histogram for one route. */
function serverView(before: string, after: string, method: string, route: string) {
  const sample = (metrics: string, name: string, labels: string) => Number(new RegExp(`^${name}${labels.replace(/[{}/.]/g, '\\$&')} (\\S+)$`, 'm').exec(metrics)?.[1] ?? 0);
  const delta = (name: string, labels: string) => sample(after, name, labels) - sample(before, name, labels);
  const bucket = (le: string) => delta('sandrun_http_request_duration_seconds_bucket', `{le="${le}",method="${method}",route="${route}"}`);
  const count = delta('sandrun_http_request_duration_seconds_count', `{method="${method}",route="${route}"}`);
  // prom-client resets its event-loop delay histogram at every scrape: the second one covers the window alone. Its
  // samples are the intervals of a 10 ms timer (an idle loop reads ~10 ms), so the stall is what exceeds that.
  const lagMs = (name: string) => round(Math.max(0, 1000 * sample(after, name, '') - EVENT_LOOP_SAMPLING_MS), 1);
  return {
    serverWithin1MsPercent: round((100 * bucket('0.001')) / count),
    serverWithin10MsPercent: round((100 * bucket('0.01')) / count),
    eventLoopStallP99Ms: lagMs('nodejs_eventloop_lag_p99_seconds'),
    eventLoopStallMaxMs: lagMs('nodejs_eventloop_lag_max_seconds'),
  };
}

/** 4. Server RSS with 10,000 recorded runs listed, and after a run that prints 1 GB. */
export async function footprint(repo: TestRepo) {
  console.log('\n4. server RSS after 10,000 recorded runs and after a run that prints 1 GB');
  const dataDir = mkdtempSync(join(tmpdir(), 'sandrun-bench-rss-'));
  const server = await startBenchServer({}, { repo, dataDir });
  try {
    const first = await server.call('POST', '/v1/runs', trivial);
    await insertRecordedRuns(dataDir, first.run_id, 10_000);
    for (let cursor: string | null = null, pages = 0; pages < 100; pages += 1) {
      const page: any = await server.call('GET', `/v1/runs?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
      cursor = page.next_cursor;
      if (!cursor) break;
    }
    const afterRecorded = server.rssBytes();
    const flood = await server.call('POST', '/v1/runs', { ...trivial, model_name: 'flood' });
    const afterFlood = server.rssBytes();
    const result = { rssAfter10kRunsMb: round(afterRecorded / 1e6), rssAfter1GbRunMb: round(afterFlood / 1e6), floodStatus: flood.status, floodStdoutTruncated: flood.stdout_truncated };
    console.log(`  RSS ${result.rssAfter10kRunsMb} MB after 10,000 runs listed, ${result.rssAfter1GbRunMb} MB after a 1 GB run (${flood.status}, truncated ${flood.stdout_truncated}); target < 200 MB`);
    return result;
  } finally {
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** 5. Start-up time to /readyz with 100,000 runs in the database. */
export async function startup(repo: TestRepo) {
  console.log('\n5. start-up time to readyz with 100,000 runs in the database');
  const dataDir = mkdtempSync(join(tmpdir(), 'sandrun-bench-start-'));
  const first = await startBenchServer({}, { repo, dataDir });
  const run = await first.call('POST', '/v1/runs', trivial);
  await first.stop();
  try {
    await insertRecordedRuns(dataDir, run.run_id, 100_000);
    const started = performance.now();
    const server = await startServerProcess({ SANDRUN_DATA_DIR: dataDir, SANDRUN_LOG_LEVEL: 'warn' }, await freePort());
    const ms = performance.now() - started;
    await stopGracefully(server);
    console.log(`  ${round(ms)} ms from spawn to readyz (target < 1000), including Node start-up (the dist/ bundle)`);
    return { startupMs: round(ms) };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** Copies a finished run `count` times, with fresh ids and numbers, straight into the database. */
async function insertRecordedRuns(dataDir: string, templateRunId: string, count: number): Promise<void> {
  const { database } = await openStores(loadConfig({ SANDRUN_DATA_DIR: dataDir }));
  const db = database.sqlite!;
  const template = db.prepare('SELECT * FROM runs WHERE id = ?').get(templateRunId) as Record<string, unknown>;
  const columns = Object.keys(template).filter((column) => column !== 'seq');
  const insert = db.prepare(`INSERT INTO runs (${columns.join(', ')}) VALUES (${columns.map((column) => `@${column}`).join(', ')})`);
  const next = db.prepare('SELECT next_run_number AS n FROM projects WHERE id = ?').get(template.project_id) as { n: number };
  db.transaction(() => {
    for (let i = 0; i < count; i += 1) insert.run({ ...template, id: crypto.randomUUID(), run_number: next.n + i });
    db.prepare('UPDATE projects SET next_run_number = ? WHERE id = ?').run(next.n + count, template.project_id);
  })();
  await database.close();
}

export function benchRepo(): TestRepo {
  return new TestRepo(BENCH_MODELS);
}
