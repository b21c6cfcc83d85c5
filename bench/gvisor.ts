// Section 7: the common case and a trivial model under gVisor (runsc), pool hit, against a bare `docker run --runtime runsc`.
import type { TestRepo } from '../test/helpers/git-repo.ts';
import { runtimeAvailable } from '../test/helpers/sandbox.ts';
import { delay } from '../src/delay.ts';
import { bareDockerRun, bareRealisticRun } from './bare-docker.ts';
import { realistic, ratio, syncRun, timed } from './bench-requests.ts';
import { startBenchServer } from './bench-server.ts';
import { SETTLE_MS } from './sections.ts';
import { printRow, summarize } from './stats.ts';

const IMAGE = 'sandrun/python:3.11';
const RUNTIME = 'runsc';

export async function gvisor(repo: TestRepo, n: number) {
  console.log(`\n7. under gVisor: sync runs over HTTP (pool hit) vs bare \`docker run --rm --network none --runtime ${RUNTIME}\`, interleaved, ${SETTLE_MS} ms apart, n=${n}`);
  if (!(await runtimeAvailable(RUNTIME))) {
    console.log(`  not measured: the engine has no ${RUNTIME} runtime (scripts/engine.sh installs it)`);
    return { unavailable: `no ${RUNTIME} runtime` };
  }
  const server = await startBenchServer({ SANDRUN_RUNTIME: RUNTIME }, { repo });
  const bareRealistic = { ...bareRealisticRun(), runtime: RUNTIME };
  try {
    await syncRun(server);
    await syncRun(server, realistic);
    await bareDockerRun(IMAGE, { runtime: RUNTIME });
    await bareDockerRun(IMAGE, bareRealistic);
    const samples = { httpPoolHitWithOutputs: [] as number[], httpPoolHit: [] as number[], bareDockerRun: [] as number[], bareDockerRunWithOutputs: [] as number[] };
    const sample = async (key: keyof typeof samples, action: () => Promise<unknown>) => {
      await delay(SETTLE_MS);
      samples[key].push(await timed(action));
    };
    for (let i = 0; i < n; i += 1) {
      await sample('httpPoolHitWithOutputs', () => syncRun(server, realistic));
      await sample('httpPoolHit', () => syncRun(server));
      await sample('bareDockerRun', () => bareDockerRun(IMAGE, { runtime: RUNTIME }));
      await sample('bareDockerRunWithOutputs', () => bareDockerRun(IMAGE, bareRealistic));
    }
    const summaries = Object.fromEntries(Object.entries(samples).map(([key, values]) => [key, summarize(values)]));
    for (const [key, summary] of Object.entries(summaries)) printRow(key, summary);
    const m = (key: keyof typeof samples) => summaries[key]!.medianMs;
    const ratios = {
      outputsHitVsBare: ratio(m('httpPoolHitWithOutputs'), m('bareDockerRun')),
      outputsHitVsBareSameModel: ratio(m('httpPoolHitWithOutputs'), m('bareDockerRunWithOutputs')),
      hitVsBare: ratio(m('httpPoolHit'), m('bareDockerRun')),
    };
    console.log(`  ratios (medians): hit with outputs/bare runsc ${ratios.outputsHitVsBare} (target ≤ 0.3), the same/bare runsc of the same model ${ratios.outputsHitVsBareSameModel}, hit/bare runsc ${ratios.hitVsBare}`);
    return { settleMs: SETTLE_MS, ...summaries, ratios };
  } finally {
    await server.stop();
    bareRealistic.remove();
  }
}
