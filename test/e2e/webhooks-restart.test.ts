// kill -9 of the server while a webhook delivery is waiting for its next attempt, or in the middle of one: after a restart on the same data directory, the delivery completes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestRepo } from '../helpers/git-repo.ts';
import { freePort, killHard, startServerProcess, stopGracefully, type ServerProcess, tokenForServer, apiCaller } from '../helpers/server-process.ts';
import { signatureValid, startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.ts';

let dataDir: string;
let repo: TestRepo;
let token: string;
let port: number;
let server: ServerProcess | undefined;
let receiver: WebhookReceiver;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'sandrun-webhooks-restart-'));
  repo = new TestRepo({ 'models/hello.py': 'print("hello")\n' });
  token = await tokenForServer({ SANDRUN_DATA_DIR: dataDir }, 'hooks', ['runs:read', 'runs:write', 'projects:read', 'projects:write', 'admin']);
  port = await freePort();
  receiver = await startWebhookReceiver();
});
afterEach(async () => {
  if (server) await stopGracefully(server);
  server = undefined;
});
afterAll(async () => {
  await receiver?.close();
  rmSync(dataDir, { recursive: true, force: true });
  repo?.remove();
});

/** A base of 3 s: the first retry comes 1.5–3 s after the first attempt, time enough to kill the server in between. */
const start = () =>
  startServerProcess({ SANDRUN_DATA_DIR: dataDir, SANDRUN_LOG_LEVEL: 'warn', SANDRUN_ALLOW_PRIVATE_DESTINATIONS: '1', SANDRUN_WEBHOOK_RETRY_BASE_SECONDS: '3' }, port);

const call = apiCaller(() => server!.url, () => token);

async function deliveriesWhen(webhookId: string, done: (deliveries: any[]) => boolean, timeoutMs = 90_000): Promise<any[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await call('GET', `/v1/webhooks/${webhookId}/deliveries`);
    if (answer.status === 200 && done(answer.body.deliveries)) return answer.body.deliveries;
    if (Date.now() > deadline) throw new Error(`deliveries not as expected in time: ${JSON.stringify(answer.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A webhook, then a finished run: one delivery queued for it. */
async function webhookAndRun(): Promise<{ id: string; secret: string; runId: string }> {
  const created = await call('POST', '/v1/webhooks', { url: receiver.url, events: ['run.finished'] });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const run = await call('POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'hooks', model_name: 'hello' });
  expect(run.body, JSON.stringify(run.body)).toMatchObject({ status: 'success' });
  return { id: created.body.id, secret: created.body.secret, runId: run.body.run_id };
}

describe('a webhook delivery across a server killed with SIGKILL', () => {
  it('waiting for its next attempt: after the restart it is tried again and delivered, the same delivery with the same body', async () => {
    server = await start();
    expect((await call('POST', '/v1/projects', { name: 'hooks', repo_url: repo.dir })).status).toBe(201);
    receiver.answer([500], 200);
    const { id, secret, runId } = await webhookAndRun();
    await receiver.waitFor(1);
    const pending = await deliveriesWhen(id, (list) => list[0]?.attempts.length === 1);
    expect(pending[0]).toMatchObject({ status: 'pending', run_id: runId, attempts: [{ attempt: 1, status_code: 500 }] });
    expect(pending[0].next_attempt_at, 'the next attempt is scheduled').not.toBeNull();

    await killHard(server);
    expect(receiver.received, 'killed before the second attempt').toHaveLength(1);

    server = await start();
    const [first, second] = await receiver.waitFor(2, 90_000);
    const done = await deliveriesWhen(id, (list) => list[0]?.status === 'delivered');
    expect(done[0].attempts.map((attempt: any) => [attempt.attempt, attempt.status_code])).toEqual([
      [1, 500],
      [2, 200],
    ]);
    expect(second!.body, 'the same bytes after the restart').toBe(first!.body);
    expect(second!.headers['sandrun-delivery']).toBe(first!.headers['sandrun-delivery']);
    expect([signatureValid(secret, first!), signatureValid(secret, second!)]).toEqual([true, true]);
    expect(JSON.parse(second!.body)).toMatchObject({ run_id: runId, status: 'success', stdout: 'hello\n' });
    expect((await call('DELETE', `/v1/webhooks/${id}`)).status).toBe(204);
  });

  it('in the middle of an attempt (the receiver had not answered): after the restart it is sent again and delivered', async () => {
    server = await start();
    const before = receiver.received.length;
    receiver.answer([0], 200); // the first request is held, never answered
    const { id, secret, runId } = await webhookAndRun();
    await receiver.waitFor(before + 1);
    await killHard(server);

    server = await start();
    const received = await receiver.waitFor(before + 2, 90_000);
    const done = await deliveriesWhen(id, (list) => list[0]?.status === 'delivered');
    // The attempt cut short by the kill left no record: its outcome is unknown, so it counts as not sent.
    expect(done[0].attempts.map((attempt: any) => [attempt.attempt, attempt.status_code])).toEqual([[1, 200]]);
    const [held, resent] = received.slice(before);
    expect(resent!.headers['sandrun-delivery'], 'the same delivery: receivers dedupe on it').toBe(held!.headers['sandrun-delivery']);
    expect(resent!.body).toBe(held!.body);
    expect(signatureValid(secret, resent!)).toBe(true);
    expect(JSON.parse(resent!.body).run_id).toBe(runId);
  });
});
