// `npm run bench`: sandrun against bare `docker run`, measured side by side in one process; prints medians, p95 and ratios.
import Dockerode from 'dockerode';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEMO_FILES, TestRepo } from '../test/helpers/git-repo.ts';
import { createTestSandbox } from '../test/helpers/sandbox.ts';
import { startTestServer } from '../test/helpers/server.ts';
import { TRIVIAL_COMMAND, bareDockerRun } from './bare-docker.ts';
import { percentile, printRow, round, summarize, type Summary } from './stats.ts';

const IMAGE = 'sandrun/python:3.11';
const N = Number(process.env.BENCH_N ?? 30);
const results: Record<string, unknown> = { date: new Date().toISOString(), n: N };

async function sandboxVersusBare(): Promise<void> {
  console.log(`\n1. one trivial command (${TRIVIAL_COMMAND.join(' ')}), sandbox vs bare docker run, interleaved, n=${N}`);
  const sandbox = await createTestSandbox();
  const workspace = await sandbox.workspace({});
  const viaSandbox: number[] = [];
  const bare: number[] = [];
  await bareDockerRun(IMAGE); // warm the page cache for both
  for (let i = 0; i < N; i += 1) {
    const started = performance.now();
    const result = await sandbox.backend.run(sandbox.spec({ command: TRIVIAL_COMMAND, workspaceDir: workspace }));
    if (result.exitCode !== 0) throw new Error(`sandbox run failed: ${result.stderr.text}`);
    viaSandbox.push(performance.now() - started);
    bare.push(await bareDockerRun(IMAGE));
  }
  await sandbox.cleanup();
  report('sandbox', { sandbox: summarize(viaSandbox), bareDockerRun: summarize(bare) }, 'sandbox', 'bareDockerRun');
}

async function httpVersusBare(): Promise<void> {
  console.log(`\n2. sync run of a trivial model over HTTP vs bare docker run, interleaved, n=${N}`);
  const server = await startTestServer({ SANDRUN_MAX_CONCURRENT_RUNS: '4' });
  const repo = new TestRepo({ 'models/trivial.py': 'print(1)\n', 'models/revenue.py': DEMO_FILES['models/revenue.py']! });
  const token = server.token('bench');
  try {
    await server.request(token, 'POST', '/v1/projects', { name: 'bench', repo_url: repo.dir });
    const body = { scope: 'model', mode: 'sync', project_name: 'bench', model_name: 'trivial' };
    await server.request(token, 'POST', '/v1/runs', body); // first run builds the checkout
    const viaHttp: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i < N; i += 1) {
      const started = performance.now();
      const response = await server.request(token, 'POST', '/v1/runs', body);
      if (response.body.status !== 'success') throw new Error(`run failed: ${JSON.stringify(response.body)}`);
      viaHttp.push(performance.now() - started);
      bare.push(await bareDockerRun(IMAGE));
    }
    report('httpSyncRun', { httpSyncRun: summarize(viaHttp), bareDockerRun: summarize(bare) }, 'httpSyncRun', 'bareDockerRun');

    console.log('\n3. GET /v1/runs/{id} latency while 4 runs execute (400 requests, 8 at a time)');
    const { body: finished } = await server.request(token, 'POST', '/v1/runs', body);
    const sleeper = { scope: 'model', mode: 'async', project_name: 'bench', model_name: 'revenue' };
    const background = Array.from({ length: 4 }, () => server.request(token, 'POST', '/v1/runs', sleeper));
    const latencies: number[] = [];
    const started = performance.now();
    for (let batch = 0; batch < 50; batch += 1) {
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          const t0 = performance.now();
          await server.request(token, 'GET', `/v1/runs/${finished.run_id}`);
          latencies.push(performance.now() - t0);
        }),
      );
    }
    const seconds = (performance.now() - started) / 1000;
    await Promise.all(background);
    const getRun = { ...summarize(latencies), p99Ms: round(percentile(latencies, 99)), requestsPerSecond: round(latencies.length / seconds) };
    printRow('get_run during runs', getRun);
    console.log(`  p99 ${getRun.p99Ms} ms, ${getRun.requestsPerSecond} requests/s`);
    results.getRunUnderLoad = getRun;
  } finally {
    await server.close();
    repo.remove();
  }
}

function report(key: string, summaries: Record<string, Summary>, subject: string, floor: string): void {
  for (const [label, summary] of Object.entries(summaries)) printRow(label, summary);
  const ratio = round(summaries[subject]!.medianMs / summaries[floor]!.medianMs, 2);
  console.log(`  ratio ${subject} / ${floor} (medians): ${ratio}`);
  results[key] = { ...summaries, ratio };
}

async function main(): Promise<void> {
  await new Dockerode().ping();
  const only = process.argv[2];
  if (!only || only === 'sandbox') await sandboxVersusBare();
  if (!only || only === 'http') await httpVersusBare();
  const out = join(dirname(fileURLToPath(import.meta.url)), 'results', `bench-${new Date().toISOString().replace(/[:.]/g, '-')}-${randomUUID().slice(0, 4)}.json`);
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify(results, null, 2));
  console.log(`\nsummary written to ${out}`);
}

await main();
