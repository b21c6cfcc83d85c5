// The run API against three servers on one PostgreSQL database, requests spread over them (SPEC §13): one service.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestRepo } from '../helpers/git-repo.ts';
import { pollRun } from '../helpers/poll-run.ts';
import { startServerGroup, type ServerGroup } from '../helpers/server-group.ts';

const TENANT_MAX_CONCURRENT = 2;
const TENANT_MAX_QUEUED = 4;
const RATE_PER_MINUTE = 400;

const FILES: Record<string, string> = {
  'sandrun.yaml': [
    'image: sandrun/python:3.11',
    'models:',
    '  sleeper:',
    '    command: ["python3", "-c", "import time; time.sleep(4); print(\'slept\')"]',
    '  quick:',
    '    command: ["python3", "-c", "print(\'quick\')"]',
    '  long:',
    '    command: ["python3", "-c", "import time; print(\'long started\', flush=True); time.sleep(120)"]',
    '  ticker:',
    '    command: ["python3", "-c", "import time\\nfor i in range(8):\\n    print(f\'tick {i}\', flush=True)\\n    time.sleep(0.7)"]',
    '',
  ].join('\n'),
};

let group: ServerGroup;
let repo: TestRepo;

beforeAll(async () => {
  repo = new TestRepo(FILES);
  group = await startServerGroup(3, {
    SANDRUN_MAX_CONCURRENT_RUNS: '6',
    SANDRUN_TENANT_MAX_CONCURRENT_RUNS: String(TENANT_MAX_CONCURRENT),
    SANDRUN_TENANT_MAX_QUEUED_RUNS: String(TENANT_MAX_QUEUED),
    SANDRUN_RATE_LIMIT_PER_MINUTE: String(RATE_PER_MINUTE),
    SANDRUN_LOG_LEVEL: 'warn',
  });
}, 180_000);
afterAll(async () => {
  await group?.close();
  repo?.remove();
});

interface Answer {
  status: number;
  body: any;
  headers: Headers;
}

/** A tenant's client of the service: every call names the server (0, 1, 2) it goes to. */
async function tenant(name: string) {
  const token = await group.token(name);
  const call = async (server: number, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> => {
    const response = await fetch(group.url(server) + path, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers };
  };
  const created = await call(0, 'POST', '/v1/projects', { name: 'proj', repo_url: repo.dir });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const submit = (server: number, model: string, mode: 'sync' | 'async' = 'async', headers: Record<string, string> = {}) =>
    call(server, 'POST', '/v1/runs', { scope: 'model', mode, project_name: 'proj', model_name: model }, headers);
  const waitFor = (server: number, runId: string, until?: string[]) =>
    pollRun(() => call(server, 'GET', `/v1/runs/${runId}`), runId, { until, intervalMs: 250, timeoutMs: 180_000 });
  return { token, call, submit, waitFor };
}

describe('three servers on one PostgreSQL database', () => {
  it('holds the tenant limits service-wide: concurrent submissions to all three are admitted up to running + queued, numbered gapless, and never run more than the tenant limit at once', async () => {
    const client = await tenant('limits');
    // 12 submissions at once, four to each server: 2 may run and 4 wait, so exactly 6 are admitted.
    const answers = await Promise.all(Array.from({ length: 12 }, (_, index) => client.submit(index % 3, 'sleeper')));
    const accepted = answers.filter((answer) => answer.status === 202);
    const refused = answers.filter((answer) => answer.status !== 202);
    console.log('submissions:', answers.map((answer) => `${answer.status}${answer.body?.run_number ? ` #${answer.body.run_number}` : ` ${answer.body?.error?.code}`}`).join(', '));
    expect(accepted.length, 'runs admitted service-wide').toBe(TENANT_MAX_CONCURRENT + TENANT_MAX_QUEUED);
    for (const answer of refused) expect([answer.status, answer.body.error.code]).toEqual([429, 'queue_full']);
    expect(accepted.map((answer) => answer.body.run_number as number).sort((a, b) => a - b), 'numbers of the admitted runs').toEqual([1, 2, 3, 4, 5, 6]);

    // Watched while they run (polling the list, each time on the next server): never more than 2 running at once.
    let mostRunning = 0;
    for (let poll = 0; ; poll += 1) {
      const page = await client.call(poll % 3, 'GET', '/v1/runs?limit=50');
      if (page.status === 429) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        continue;
      }
      expect(page.status).toBe(200);
      const running = page.body.runs.filter((run: any) => run.status === 'running').length;
      mostRunning = Math.max(mostRunning, running);
      if (page.body.runs.every((run: any) => ['success', 'failed', 'timed_out', 'cancelled', 'error'].includes(run.status))) break;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    const runs = await Promise.all(accepted.map((answer) => client.waitFor(1, answer.body.run_id)));
    expect(runs.map((run) => run.status)).toEqual(runs.map(() => 'success'));
    // And by the runs' own times: at any run's start, how many had started and not yet finished.
    const overlaps = runs.map((run) => {
      const at = Date.parse(run.started_at);
      return runs.filter((other) => Date.parse(other.started_at) <= at && Date.parse(other.finished_at) > at).length;
    });
    console.log('most running seen by polling:', mostRunning, '; running at each start:', overlaps.join(', '));
    expect(mostRunning, 'most runs of the tenant seen running at once').toBeLessThanOrEqual(TENANT_MAX_CONCURRENT);
    expect(Math.max(...overlaps), 'most runs of the tenant running at once, by their started/finished times').toBeLessThanOrEqual(TENANT_MAX_CONCURRENT);

    // Once they are done, the next one is admitted again, with the next number.
    const next = await client.submit(2, 'quick');
    expect([next.status, next.body.run_number]).toEqual([202, 7]);
    await client.waitFor(0, next.body.run_id);
  });

  it('an idempotency key used on one server gives the same run on another', async () => {
    const client = await tenant('idem');
    const key = { 'idempotency-key': 'cluster-key-1' };
    const first = await client.submit(0, 'quick', 'async', key);
    expect(first.status).toBe(202);
    const again = await client.submit(1, 'quick', 'async', key);
    expect([again.status, again.body.run_id, again.headers.get('idempotent-replayed')]).toEqual([202, first.body.run_id, 'true']);
    expect((await client.waitFor(2, first.body.run_id)).status).toBe('success');
  });

  it('a sync request on one server is answered with the run another server executed', async () => {
    const client = await tenant('sync');
    const key = { 'idempotency-key': 'cluster-sync-1' };
    // A sync submission on server 0, which executes its run; the same request (same key) on server 1 waits for that run.
    const onFirst = client.submit(0, 'sleeper', 'sync', key);
    const recorded = await pollRun(() => client.call(1, 'GET', '/v1/runs?limit=1').then((page) => ({ ...page, body: page.body?.runs?.[0] ?? { status: 'none yet' } })), 'the first', {
      until: ['pending', 'running'],
      intervalMs: 250,
    });
    const onSecond = await client.submit(1, 'sleeper', 'sync', key);
    expect([onSecond.status, onSecond.body.run_id, onSecond.body.status, onSecond.body.stdout, onSecond.headers.get('idempotent-replayed')]).toEqual([
      200,
      recorded.run_id,
      'success',
      'slept\n',
      'true',
    ]);
    expect((await onFirst).body.run_id).toBe(recorded.run_id);
  });

  it('a run executing on one server is cancelled from another', async () => {
    const client = await tenant('cancel');
    const run = await client.submit(0, 'long');
    expect(run.status).toBe(202);
    await client.waitFor(0, run.body.run_id, ['running']);
    const cancelled = await client.call(1, 'POST', `/v1/runs/${run.body.run_id}/cancel`);
    expect([cancelled.status, cancelled.body.status]).toEqual([200, 'cancelled']);
    expect((await client.waitFor(2, run.body.run_id)).status).toBe('cancelled');
  });

  it('streams the live logs of a run executing on one server from another, chunk by chunk while it runs', async () => {
    const client = await tenant('logs');
    const run = await client.submit(0, 'ticker');
    expect(run.status).toBe(202);
    await client.waitFor(0, run.body.run_id, ['running']);
    const response = await fetch(`${group.url(2)}/v1/runs/${run.body.run_id}/logs?follow=1`, { headers: { authorization: `Bearer ${client.token}` } });
    expect(response.status).toBe(200);
    const decoder = new TextDecoder();
    let text = '';
    const chunks: { at: number; text: string }[] = [];
    for await (const piece of response.body!) {
      const chunk = decoder.decode(piece, { stream: true });
      chunks.push({ at: Date.now(), text: chunk });
      console.log(`[${new Date().toISOString()}] ${JSON.stringify(chunk)}`);
      text += chunk;
    }
    const finished = await client.waitFor(1, run.body.run_id);
    for (let i = 0; i < 8; i += 1) expect(text).toContain(`tick ${i}`);
    expect(text).toContain('event: end');
    // Live: ticks came in pieces over the run's time, not all at once with its end.
    const withTicks = chunks.filter((chunk) => chunk.text.includes('tick '));
    expect(withTicks.length, 'pieces of the stream that carried ticks').toBeGreaterThan(1);
    expect(withTicks[0]!.at, 'first tick received before the run finished').toBeLessThan(Date.parse(finished.finished_at));
  });

  it('shares the tenant request budget: once spent on one server, another answers 429', async () => {
    const client = await tenant('rate');
    let spent = 0;
    for (; spent < 2 * RATE_PER_MINUTE; spent += 1) {
      const answer = await client.call(0, 'GET', '/v1/runs?limit=1');
      if (answer.status === 429) break;
      expect(answer.status).toBe(200);
    }
    expect(spent, 'requests server 0 allowed before its 429').toBeGreaterThanOrEqual(RATE_PER_MINUTE - 20);
    // At once on server 1: the budget refills by one request every 60/RATE_PER_MINUTE s, so nearly all are refused.
    const others = await Promise.all(Array.from({ length: 5 }, () => client.call(1, 'GET', '/v1/runs?limit=1')));
    console.log('server 0 allowed', spent, 'requests; server 1 then answered', others.map((answer) => answer.status).join(', '));
    const refused = others.filter((answer) => answer.status === 429);
    expect(refused.length, 'of 5 requests to server 1 right after, refused').toBeGreaterThanOrEqual(3);
    expect(refused[0]!.body.error.code).toBe('rate_limited');
    expect(Number(refused[0]!.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('a token revoked through one server is refused by the others at once, though they had just accepted it (they trust a token for a few seconds)', async () => {
    const admin = await group.token('revoker', ['admin']);
    const ask = async (server: number, token: string, method = 'GET', path = '/v1/projects', body?: unknown) => {
      const response = await fetch(group.url(server) + path, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: response.status, body: (response.status === 204 ? undefined : await response.json()) as any };
    };
    const created = await ask(0, admin, 'POST', '/v1/tokens', { scopes: ['projects:read'] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    for (const server of [1, 2]) expect((await ask(server, created.body.token)).status, `server ${server} before the revocation`).toBe(200);
    expect((await ask(0, admin, 'DELETE', `/v1/tokens/${created.body.id}`)).status).toBe(204);
    // The others hear of it by NOTIFY: well within the trust period (5 s), on any machine.
    const heardBy = Date.now() + 2_500;
    for (const server of [1, 2]) {
      let answer = await ask(server, created.body.token);
      while (answer.status === 200 && Date.now() < heardBy) answer = await ask(server, created.body.token);
      expect(answer, `server ${server} after the revocation`).toMatchObject({ status: 401, body: { error: { message: expect.stringMatching(/revoked/) } } });
    }
  });
});
