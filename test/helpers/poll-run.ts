// The one way tests wait for a run: poll get_run, honour 429 Retry-After, and fail loudly on any other answer.
export const TERMINAL_STATUSES = ['success', 'failed', 'timed_out', 'cancelled', 'error'] as const;

export interface Answer {
  status: number;
  body: any;
  headers?: Headers;
}

export interface PollOptions {
  /** Statuses to wait for (default: any terminal one). */
  until?: readonly string[];
  /** Generous: a slow machine may take several times as long as a fast one. */
  timeoutMs?: number;
  intervalMs?: number;
}

/** Longest wait a 429's Retry-After may impose on one poll. */
const MAX_RETRY_AFTER_MS = 10_000;

export function retryAfterMs(headers: Headers | undefined): number {
  const seconds = Number(headers?.get('retry-after'));
  return Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds * 1000, MAX_RETRY_AFTER_MS) : 1000;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls `get` (an HTTP GET of /v1/runs/{id}, or anything answering in that shape) until the run's status is in
 * `until`. A 429 waits as Retry-After says; any other non-200 answer, or a 200 without a status, throws with it.
 */
export async function pollRun(get: () => Promise<Answer>, runId: string, options: PollOptions = {}): Promise<any> {
  const until = options.until ?? TERMINAL_STATUSES;
  const timeoutMs = options.timeoutMs ?? 120_000;
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    const answer = await get();
    let wait = options.intervalMs ?? 100;
    if (answer.status === 429) {
      wait = retryAfterMs(answer.headers);
      last = `429 ${JSON.stringify(answer.body)}`;
    } else if (answer.status !== 200 || typeof answer.body?.status !== 'string') {
      throw new Error(`polling run ${runId}: unexpected answer ${answer.status} ${JSON.stringify(answer.body)}`);
    } else {
      if (until.includes(answer.body.status)) return answer.body;
      last = `status ${answer.body.status}`;
    }
    if (Date.now() + wait > deadline) throw new Error(`run ${runId} did not reach ${until.join('/')} within ${timeoutMs} ms (last: ${last})`);
    await sleep(wait);
  }
}
