// The requests every benchmark section sends, and the small helpers that time them.
import { delay } from '../src/delay.ts';
import type { BenchServer } from './bench-server.ts';
import { printRow, round, summarize, type Summary } from './stats.ts';

/** The pause before each measured request: a client's next run does not start the instant the last one ended. */
export const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 500);

export const trivial = { scope: 'model', mode: 'sync', project_name: 'bench', model_name: 'trivial' };
/** The common case: reads its parameters, prints a line, writes two small outputs (models/realistic.py). */
export const realistic = { ...trivial, model_name: 'realistic', parameters: { growth: 0.1 } };
/** The common case without its two outputs (models/reads-parameters.py). */
export const readsParameters = { ...realistic, model_name: 'reads-parameters' };

export const ratio = (a: number, b: number) => round(a / b, 2);

export async function timed(action: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await action();
  return performance.now() - started;
}

export async function syncRun(server: BenchServer, request: object = trivial): Promise<void> {
  const body = await server.call('POST', '/v1/runs', request);
  if (body.status !== 'success') throw new Error(`run failed: ${JSON.stringify(body)}`);
}

/**
 * `n` rounds of every action in turn, each timed after SETTLE_MS of quiet; the summaries by name, printed, and the
 * median of one by name (for ratios).
 */
export async function interleaved<K extends string>(n: number, actions: Record<K, () => Promise<unknown>>) {
  const samples = Object.fromEntries(Object.keys(actions).map((key) => [key, [] as number[]])) as Record<K, number[]>;
  for (let i = 0; i < n; i += 1) {
    for (const key of Object.keys(actions) as K[]) {
      await delay(SETTLE_MS);
      samples[key].push(await timed(actions[key]));
    }
  }
  const summaries = Object.fromEntries(Object.entries<number[]>(samples).map(([key, values]) => [key, summarize(values)])) as Record<K, Summary>;
  for (const [key, summary] of Object.entries<Summary>(summaries)) printRow(key, summary);
  return { summaries, median: (key: K) => summaries[key].medianMs };
}
