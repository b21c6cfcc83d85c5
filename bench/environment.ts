// Section 9: a run on a built environment against the same run on the base image (pool hits, interleaved), the first
// build's time, and the first run of a new commit that changes only code (the environment found, nothing built).
import { TestRepo } from '../test/helpers/git-repo.ts';
import { BENCH_MODELS, startBenchServer, type BenchServer } from './bench-server.ts';
import { SETTLE_MS, interleaved, ratio, realistic, timed } from './bench-requests.ts';
import { round } from './stats.ts';

const ENVIRONMENT = 'environment:\n  apt: [python3-tabulate]\n';
const onEnvironment = { ...realistic, project_name: 'benchenv' };

async function run(server: BenchServer, request: object): Promise<void> {
  const body = await server.call('POST', '/v1/runs', request);
  if (body.status !== 'success') throw new Error(`run failed: ${JSON.stringify(body)}`);
}

/** A commit that changes only code, in both projects' repositories, fetched by the server. */
async function newCommit(server: BenchServer, repo: TestRepo, project: string, round: number): Promise<void> {
  repo.commit({ 'models/realistic.py': `${BENCH_MODELS['models/realistic.py']}# ${round}\n` }, `code only ${round}`);
  const refreshed = await server.call('POST', `/v1/projects/${project}/refresh`);
  if (refreshed.error) throw new Error(`refresh failed: ${JSON.stringify(refreshed)}`);
}

export async function environment(base: TestRepo, n: number) {
  console.log(`\n9. the common case on a built environment (apt: python3-tabulate) vs on the base image, sync over HTTP, pool hits, interleaved, ${SETTLE_MS} ms apart, n=${n}`);
  const repo = new TestRepo({ ...BENCH_MODELS, 'sandrun.yaml': ENVIRONMENT });
  // A tenant of its own each time: the environment's key includes the tenant, so this build is the server's first of it.
  const server = await startBenchServer({}, { repo: base });
  try {
    await server.call('POST', '/v1/projects', { name: 'benchenv', repo_url: repo.dir });
    const firstBuildMs = await timed(() => run(server, onEnvironment));
    const view = await server.call('GET', '/v1/projects/benchenv');
    const cachedSteps = typeof view.environment?.log === 'string' ? (view.environment.log.match(/Using cache/g) ?? []).length : null;
    console.log(`  first run, its environment built first: ${round(firstBuildMs / 1000, 2)} s (steps the engine's layer cache answered: ${cachedSteps ?? 'unknown'})`);
    await run(server, realistic);
    const { summaries, median } = await interleaved(n, {
      poolHitOnEnvironment: () => run(server, onEnvironment),
      poolHitOnBase: () => run(server, realistic),
    });
    const newCommitSamples: { environment: number[]; base: number[] } = { environment: [], base: [] };
    for (let i = 0; i < Math.min(n, 5); i += 1) {
      await newCommit(server, repo, 'benchenv', i);
      newCommitSamples.environment.push(await timed(() => run(server, onEnvironment)));
      await newCommit(server, base, 'bench', i);
      newCommitSamples.base.push(await timed(() => run(server, realistic)));
    }
    const medianOf = (values: number[]) => round([...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!);
    const newCommitMs = { environment: medianOf(newCommitSamples.environment), base: medianOf(newCommitSamples.base) };
    const ratios = { hitOnEnvironmentVsBase: ratio(median('poolHitOnEnvironment'), median('poolHitOnBase')), newCommitEnvironmentVsBase: ratio(newCommitMs.environment, newCommitMs.base) };
    console.log(`  a new commit's first run (code only; nothing built): on the environment ${newCommitMs.environment} ms, on the base ${newCommitMs.base} ms (medians of ${newCommitSamples.base.length})`);
    console.log(`  ratios (medians): hit on the environment/hit on the base ${ratios.hitOnEnvironmentVsBase} (target ≤ 1.10), new commit environment/base ${ratios.newCommitEnvironmentVsBase}`);
    return { settleMs: SETTLE_MS, firstBuildMs: round(firstBuildMs), cachedSteps, ...summaries, newCommitMs, newCommitSamples, ratios };
  } finally {
    await server.stop();
    repo.remove();
  }
}
