// `npm run soak [-- --runs 10000 --every 500]`: short runs back to back; RSS, V8 heap in use, open fds, data-dir size and
// p95 latency sampled every N runs, printed as a table, and judged flat within 20 % after warm-up.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { benchRepo } from './sections.ts';
import { startBenchServer } from './bench-server.ts';
import { median, percentile, round } from './stats.ts';

const { values } = parseArgs({ options: { runs: { type: 'string' }, every: { type: 'string' } } });
const options = z.object({ runs: z.coerce.number().int().min(100).default(10_000), every: z.coerce.number().int().min(50).default(500) }).parse(values);

const repo = benchRepo();
const server = await startBenchServer({ SANDRUN_MAX_CONCURRENT_RUNS: '4' }, { repo });
const pid = server.process.child.pid!;
const dataDirMb = () => Number(execFileSync('du', ['-sm', server.dataDir], { encoding: 'utf8' }).split('\t')[0]);
const openFds = () => readdirSync(`/proc/${pid}/fd`).length;
const body = { scope: 'model', mode: 'sync', project_name: 'bench', model_name: 'trivial' };

/** V8's heap in use, from the server's own /metrics (a truer sign of a leak than RSS, which follows the collector). */
async function heapUsedMb(): Promise<number> {
  const metrics = await (await fetch(`${server.process.url}/metrics`)).text();
  return round(Number(/^nodejs_heap_size_used_bytes (\S+)$/m.exec(metrics)?.[1]) / 1e6);
}

interface Sample {
  runs: number;
  rssMb: number;
  heapUsedMb: number;
  fds: number;
  dataDirMb: number;
  p95Ms: number;
}
const samples: Sample[] = [];
console.log(`soak: ${options.runs} sync runs of a trivial model, 2 at a time, sampled every ${options.every}`);
console.log('  runs     RSS MB   heap MB   open fds   data dir MB   p95 ms');
try {
  let latencies: number[] = [];
  let begun = 0;
  let done = 0;
  const worker = async () => {
    while (begun < options.runs) {
      begun += 1;
      const started = performance.now();
      const run = await server.call('POST', '/v1/runs', body);
      if (run.status !== 'success') throw new Error(`run failed: ${JSON.stringify(run).slice(0, 300)}`);
      latencies.push(performance.now() - started);
      done += 1; // counted on completion: each sample closes exactly `every` finished runs
      if (done % options.every === 0) {
        const window = latencies;
        latencies = [];
        const sample = { runs: done, rssMb: round(server.rssBytes() / 1e6), fds: openFds(), dataDirMb: dataDirMb(), p95Ms: round(percentile(window, 95)), heapUsedMb: await heapUsedMb() };
        samples.push(sample);
        console.log(`  ${String(sample.runs).padStart(6)} ${String(sample.rssMb).padStart(9)} ${String(sample.heapUsedMb).padStart(9)} ${String(sample.fds).padStart(10)} ${String(sample.dataDirMb).padStart(13)} ${String(sample.p95Ms).padStart(8)}`);
      }
    }
  };
  await Promise.all([worker(), worker()]);
} finally {
  await server.stop();
  repo.remove();
}
// Warm-up: the first two samples. Data-dir size grows with the runs kept (retention trims it), so it is shown, not judged.
// Memory saw-tooths with the collector, so one sample against another says little: the trend is the median of the
// second half of the samples against the median of the first half.
const settled = samples.slice(2);
for (const key of ['rssMb', 'heapUsedMb', 'fds', 'p95Ms'] as const) {
  if (settled.length < 4) break;
  const values = settled.map((sample) => sample[key]);
  const half = Math.floor(values.length / 2);
  const [early, late] = [median(values.slice(0, half)), median(values.slice(half))];
  const growth = early === 0 ? 0 : (late - early) / early;
  console.log(`  ${key}: median ${early} in the first half, ${late} in the second (${round(growth * 100)} %), range ${Math.min(...values)}–${Math.max(...values)} — ${growth <= 0.2 ? 'flat' : 'NOT flat'} within 20 %`);
}
