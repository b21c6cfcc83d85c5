// Waiting from the CLI for a run to end: GET it, more slowly as it goes on (and as long as a 429 asks), until it is terminal.
import { setTimeout as sleep } from 'node:timers/promises';
import { isTerminal } from '../run-status.ts';
import type { RunResultView } from '../runs/run-view.ts';
import type { ApiClient } from './api-client.ts';
import { ApiError } from './cli-error.ts';
import { segment } from './context.ts';

const FIRST_INTERVAL_MS = 250;
const MAX_INTERVAL_MS = 2_000;

/**
 * Polls rather than following the log stream: a poll holds none of the tenant's live-log slots and works whichever
 * server answers. The timer is ref'd on purpose: it is all that keeps the CLI's process alive while it waits.
 */
export async function waitUntilTerminal(client: ApiClient, runId: string): Promise<RunResultView> {
  let interval = FIRST_INTERVAL_MS;
  for (;;) {
    try {
      const run = await client.request<RunResultView>('GET', `/v1/runs/${segment(runId)}`);
      if (isTerminal(run.status)) return run;
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 429)) throw error;
      interval = MAX_INTERVAL_MS;
    }
    await sleep(interval);
    interval = Math.min(interval * 2, MAX_INTERVAL_MS);
  }
}
