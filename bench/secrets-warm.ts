// Warm-pool hits with and without secrets: time from run() to the command's start (onStart) and to the result.
import { createTestSandbox } from '../test/helpers/sandbox.ts';

const SAMPLES = Number(process.argv[2] ?? 10);
const sandbox = await createTestSandbox({ pool: { maxTotal: 4, maxPerTenant: 4, maxPerTemplate: 1, maxIdleMs: 60_000 } });
const workspace = await sandbox.workspace({ 'main.py': 'print(1)\n' });
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
try {
  for (const secrets of [undefined, { API_TOKEN: 's3cr3t-value-123', OTHER: 'x'.repeat(4096) }, undefined, { API_TOKEN: 's3cr3t-value-123', OTHER: 'x'.repeat(4096) }]) {
    await sandbox.backend.releaseWarm({}); // only this round's template parked
    const labels = { 'sandrun.tenant': 'bench', kind: secrets ? 'secrets' : 'none' };
    const spec = () => sandbox.spec({ command: ['python3', 'main.py'], workspaceDir: workspace, labels, ...(secrets ? { secrets } : {}) });
    await sandbox.backend.run(spec()); // cold: parks one for the next
    const toStart: number[] = [];
    const toResult: number[] = [];
    for (let i = 0; i < SAMPLES; i += 1) {
      while (sandbox.backend.poolStats.parked < 1) await new Promise((resolve) => setTimeout(resolve, 20));
      const hits = sandbox.backend.poolStats.hits;
      const asked = performance.now();
      let started = 0;
      const result = await sandbox.backend.run(spec(), { onStart: () => (started = performance.now()) });
      if (sandbox.backend.poolStats.hits !== hits + 1 || result.stdout.text !== '1\n') throw new Error('not a warm hit');
      toStart.push(started - asked);
      toResult.push(performance.now() - asked);
      // Let the replenish of the next container finish before timing again.
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    const fmt = (xs: number[]) => `median ${median(xs).toFixed(1)} ms [${xs.map((x) => x.toFixed(1)).join(', ')}]`;
    console.log(`${secrets ? 'with secrets' : 'no secrets  '}: to start ${fmt(toStart)}; to result ${fmt(toResult)}`);
  }
} finally {
  await sandbox.cleanup();
}
