// The requests every benchmark section sends, and the small helpers that time them.
import type { BenchServer } from './bench-server.ts';
import { round } from './stats.ts';

export const trivial = { scope: 'model', mode: 'sync', project_name: 'bench', model_name: 'trivial' };
/** The common case: reads its parameters, prints a line, writes two small outputs (models/realistic.py). */
export const realistic = { ...trivial, model_name: 'realistic', parameters: { growth: 0.1 } };

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
