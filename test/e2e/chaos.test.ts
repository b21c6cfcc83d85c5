// A small chaos run in the suite: 40 runs, 4 server kills, 1 engine outage; every invariant of the books must hold.
// The engine outage cuts this server off its engine through a proxy: restarting the real engine would break the other
// test files running beside this one (`npm run chaos` restarts the real engine).
import { describe, expect, it } from 'vitest';
import { runChaos } from '../../chaos/run-chaos.ts';

describe('chaos', () => {
  it('keeps its books straight through server kills and an engine outage', async () => {
    const seed = Number(process.env.SANDRUN_CHAOS_SEED ?? Date.now() % 100_000);
    const report = await runChaos({ runs: 40, kills: 4, engine: 'proxy', seed });
    const failed = report.invariants.filter((invariant) => !invariant.ok);
    expect(failed, `seed ${seed}; endings ${JSON.stringify(report.byStatus)}`).toEqual([]);
    expect(report.accepted).toBeGreaterThan(20);
    expect(report.kills).toBe(4);
    expect(report.engineOutages).toBe(1);
    expect(report.invariants.map((invariant) => invariant.name)).toHaveLength(7);
  }, 300_000);
});
