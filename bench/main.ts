// `npm run bench [section ...]`: sandrun against bare `docker run`, side by side in one process; medians, p95, ratios, JSON summary.
import Dockerode from 'dockerode';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliLatency } from './cli-latency.ts';
import { environment } from './environment.ts';
import { egress } from './egress.ts';
import { gvisor } from './gvisor.ts';
import { cluster } from './cluster.ts';
import { batch, benchRepo, footprint, getRunUnderLoad, latency, sandboxAlone, shellFree, startup } from './sections.ts';
import { throughput } from './throughput.ts';

const N = Number(process.env.BENCH_N ?? 30);
/** Summaries kept in bench/results (the newest); older ones are removed, so the directory stays bounded. */
const KEEP_SUMMARIES = 50;
const sections = { sandbox: () => sandboxAlone(N), 'shell-free': () => shellFree(N), latency: () => latency(repo, N), gvisor: () => gvisor(repo, N), throughput: () => throughput(repo), batch: () => batch(repo), 'get-run': () => getRunUnderLoad(repo), footprint: () => footprint(repo), startup: () => startup(repo), cli: () => cliLatency(repo, N), environment: () => environment(repo, N), egress: () => egress(repo, N), cluster: () => cluster(repo) };

await new Dockerode().ping();
const repo = benchRepo();
const chosen = process.argv.slice(2).length > 0 ? process.argv.slice(2) : Object.keys(sections);
const results: Record<string, unknown> = { date: new Date().toISOString(), n: N };
try {
  for (const name of chosen) {
    const section = sections[name as keyof typeof sections];
    if (!section) throw new Error(`unknown section ${name}; sections are ${Object.keys(sections).join(', ')}`);
    results[name] = await section();
  }
} finally {
  repo.remove();
}
const out = join(dirname(fileURLToPath(import.meta.url)), 'results', `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, JSON.stringify(results, null, 2));
const summaries = readdirSync(dirname(out)).filter((name) => /^bench-.*\.json$/.test(name)).sort();
for (const old of summaries.slice(0, -KEEP_SUMMARIES)) rmSync(join(dirname(out), old));
console.log(`\nsummary written to ${out} (the newest ${KEEP_SUMMARIES} are kept)`);
