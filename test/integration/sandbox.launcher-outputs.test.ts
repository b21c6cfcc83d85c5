// /outputs come back in the launcher's own stream: a run with outputs makes no exec, warm or cold, and outputs past
// the cap end as output_too_large without the host reading them all.
import Dockerode from 'dockerode';
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestSandbox, type TestSandbox } from '../helpers/sandbox.ts';

const CAP = 256 * 1024;
const engine = new Dockerode();
let warm: TestSandbox;
let cold: TestSandbox;

beforeAll(async () => {
  warm = await createTestSandbox({ outputsCapBytes: CAP, pool: { maxTotal: 2, maxPerTenant: 2, maxPerTemplate: 1, maxIdleMs: 60_000 } });
  cold = await createTestSandbox({ outputsCapBytes: CAP });
});
afterAll(async () => {
  await warm?.cleanup();
  await cold?.cleanup();
});

/** The engine's events of containers labelled with this case, from `since` until now (seconds). */
async function engineActions(testCase: string, since: number): Promise<string[]> {
  const until = Math.ceil(Date.now() / 1000) + 1;
  const stream = (await engine.getEvents({ since, until, filters: { type: ['container'], label: [`sandrun.case=${testCase}`] } })) as Readable;
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { Action: string }).Action);
}

const WRITES_TWO_OUTPUTS = [
  'python3',
  '-c',
  'import json\nparams = json.load(open("/inputs/parameters.json"))\nprint("growth", params["growth"])\njson.dump([100, 110, 121], open("/outputs/revenue.json", "w"))\njson.dump({"ok": True}, open("/outputs/summary.json", "w"))',
];

describe('outputs in the launcher’s stream', () => {
  for (const [path, sandbox] of [
    ['a warm', () => warm],
    ['a cold', () => cold],
  ] as const) {
    it(`a run with outputs in ${path} container makes no exec`, async () => {
      const testCase = randomUUID();
      const labels = { 'sandrun.test': 'true', 'sandrun.case': testCase };
      // The pool parks a container for the template on the first run: the second takes it.
      if (path === 'a warm') await sandbox().backend.run(sandbox().spec({ command: ['true'], labels }));
      const since = Math.floor(Date.now() / 1000) - 1;
      const result = await sandbox().backend.run(sandbox().spec({ command: WRITES_TWO_OUTPUTS, parameters: { growth: 0.1 }, labels }));
      expect(result).toMatchObject({ outcome: { kind: 'exited' }, exitCode: 0, outputs: { revenue: [100, 110, 121], summary: { ok: true } } });
      expect(result.stdout.text).toBe('growth 0.1\n');
      const actions = await engineActions(testCase, since);
      expect(actions, 'the run’s container was seen by the engine').toContain('start');
      expect(actions.filter((action) => action.startsWith('exec_')), `engine actions: ${actions.join(', ')}`).toEqual([]);
    });
  }

  it('outputs past the cap end as output_too_large, with no exec, and the next run is fine', async () => {
    const testCase = randomUUID();
    const labels = { 'sandrun.test': 'true', 'sandrun.case': testCase };
    const since = Math.floor(Date.now() / 1000) - 1;
    // Many files under the cap each, past it together: only the running total of the headers tells.
    const code = `for i in range(40):\n    open(f"/outputs/part-{i}.json", "w").write("1" * ${16 * 1024})`;
    const result = await cold.backend.run(cold.spec({ command: ['python3', '-c', code], labels }));
    expect(result.exitCode).toBe(0);
    expect(result.outcome).toMatchObject({ kind: 'output_too_large', message: expect.stringContaining(`${CAP} bytes`) });
    const actions = await engineActions(testCase, since);
    expect(actions.filter((action) => action.startsWith('exec_')), `engine actions: ${actions.join(', ')}`).toEqual([]);
    const next = await cold.backend.run(cold.spec({ command: ['sh', '-c', 'echo 1 > /outputs/one.json'] }));
    expect(next).toMatchObject({ outcome: { kind: 'exited' }, outputs: { one: 1 } });
  });
});
