// Section 10: the common case with network grants (SPEC §11) against the same run without: what being given a network
// costs (a container made for the run, its own network to the egress proxy, the last counts at its end). The run does
// not connect anywhere: the figure is the platform's part, not a destination's.
import { TestRepo } from '../test/helpers/git-repo.ts';
import { BENCH_MODELS, startBenchServer } from './bench-server.ts';
import { SETTLE_MS, interleaved, ratio, realistic, syncRun } from './bench-requests.ts';

const DESTINATION = 'api.example.com:443';

export async function egress(base: TestRepo, n: number) {
  console.log(`\n10. the common case with a network grant (${DESTINATION}, not connected to) vs without (pool hit and pool miss), sync over HTTP, interleaved, ${SETTLE_MS} ms apart, n=${n}`);
  const granted = new TestRepo({ ...BENCH_MODELS, 'sandrun.yaml': `network:\n  allow: ["${DESTINATION}"]\n` });
  const warm = await startBenchServer({ SANDRUN_EGRESS_ALLOW: DESTINATION }, { repo: base });
  const cold = await startBenchServer({ SANDRUN_POOL_SIZE: '0' }, { repo: base });
  const withGrant = { ...realistic, project_name: 'benchegress' };
  try {
    await warm.call('POST', '/v1/projects', { name: 'benchegress', repo_url: granted.dir });
    await syncRun(warm, withGrant); // the proxy's first start, outside the figures
    await syncRun(warm, realistic);
    await syncRun(cold, realistic);
    const { summaries, median } = await interleaved(n, {
      granted: () => syncRun(warm, withGrant),
      poolHit: () => syncRun(warm, realistic),
      poolMiss: () => syncRun(cold, realistic),
    });
    const ratios = { grantedVsPoolMiss: ratio(median('granted'), median('poolMiss')), grantedVsPoolHit: ratio(median('granted'), median('poolHit')) };
    console.log(`  ratios (medians): granted/pool miss ${ratios.grantedVsPoolMiss}, granted/pool hit ${ratios.grantedVsPoolHit}`);
    return { settleMs: SETTLE_MS, ...summaries, ratios };
  } finally {
    await warm.stop();
    await cold.stop();
    granted.remove();
  }
}
