// Section 7: the common case and a trivial model under gVisor (runsc), pool hit, against a bare `docker run --runtime runsc`.
import type { TestRepo } from '../test/helpers/git-repo.ts';
import { runtimeAvailable } from '../test/helpers/sandbox.ts';
import { bareDockerRun, bareRealisticRun } from './bare-docker.ts';
import { SETTLE_MS, interleaved, realistic, ratio, syncRun } from './bench-requests.ts';
import { startBenchServer } from './bench-server.ts';

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
    const { summaries, median: m } = await interleaved(n, {
      httpPoolHitWithOutputs: () => syncRun(server, realistic),
      httpPoolHit: () => syncRun(server),
      bareDockerRun: () => bareDockerRun(IMAGE, { runtime: RUNTIME }),
      bareDockerRunWithOutputs: () => bareDockerRun(IMAGE, bareRealistic),
    });
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
