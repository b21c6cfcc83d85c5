// Webhooks over real HTTP (SPEC §12, §14): signed deliveries of a finished run to a receiver on loopback, retried until a 2xx; who may create, see and remove them; where their URLs may lead.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TestRepo } from '../helpers/git-repo.ts';
import { ALL_SCOPES, startTestServer, type TestServer } from '../helpers/server.ts';
import { signatureValid, startWebhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.ts';

const BIN = fileURLToPath(new URL('../../bin/sandrun.js', import.meta.url));
const ADMIN = [...ALL_SCOPES, 'admin' as const];
const FILES = { 'models/hello.py': 'import json, os\nprint("hello from the model")\njson.dump({"answer": 42}, open(os.path.join(os.environ["SANDRUN_OUTPUTS"], "result.json"), "w"))\n' };

/** Polls the webhook's deliveries until `done` holds of them; fails past the deadline with the last answer. */
async function waitForDeliveries(server: TestServer, token: string, webhookId: string, done: (deliveries: any[]) => boolean, timeoutMs = 60_000): Promise<any[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await server.request(token, 'GET', `/v1/webhooks/${webhookId}/deliveries`);
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    if (done(answer.body.deliveries)) return answer.body.deliveries;
    if (Date.now() > deadline) throw new Error(`deliveries not as expected in time: ${JSON.stringify(answer.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('with private destinations allowed (a receiver on loopback)', () => {
  let server: TestServer;
  let receiver: WebhookReceiver;
  let repo: TestRepo;
  let admin: string;

  beforeAll(async () => {
    receiver = await startWebhookReceiver();
    server = await startTestServer({ SANDRUN_ALLOW_PRIVATE_DESTINATIONS: '1', SANDRUN_WEBHOOK_RETRY_BASE_SECONDS: '0.2', SANDRUN_TENANT_MAX_WEBHOOKS: '2' });
    admin = await server.token('hooked', ADMIN);
    repo = new TestRepo(FILES);
    const created = await server.request(admin, 'POST', '/v1/projects', { name: 'hooked', repo_url: repo.dir });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
  });
  afterAll(async () => {
    await server?.close();
    await receiver?.close();
    repo?.remove();
  });
  // A test that failed half-way must not leave a webhook that takes the next test's deliveries.
  afterEach(async () => {
    for (const webhook of (await server.request(admin, 'GET', '/v1/webhooks')).body.webhooks) await server.request(admin, 'DELETE', `/v1/webhooks/${webhook.id}`);
  });

  it('a receiver that fails twice, then answers 200, gets three signed deliveries of the same body: the run’s result', async () => {
    receiver.answer([500, 500], 200);
    const created = await server.request(admin, 'POST', '/v1/webhooks', { url: receiver.url, events: ['run.finished'] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(Object.keys(created.body).sort()).toEqual(['created_at', 'events', 'id', 'secret', 'url']);
    expect(created.body).toMatchObject({ url: receiver.url, events: ['run.finished'] });
    expect(created.body.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    const { id, secret } = created.body;

    const listed = await server.request(admin, 'GET', '/v1/webhooks');
    expect(listed.body).toEqual({ webhooks: [{ id, url: receiver.url, events: ['run.finished'], created_at: created.body.created_at }] });
    expect(JSON.stringify(listed.body), 'the list never shows the secret').not.toContain(secret);

    const run = await server.request(admin, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'hooked', model_name: 'hello' });
    expect(run.body, JSON.stringify(run.body)).toMatchObject({ status: 'success', outputs: { result: { answer: 42 } } });

    const deliveries = await receiver.waitFor(3);
    const bodies = new Set(deliveries.map((delivery) => delivery.body));
    expect(bodies.size, 'every attempt sends the same bytes').toBe(1);
    expect(JSON.parse(deliveries[0]!.body), 'the body is the run’s terminal result').toEqual(run.body);
    expect(JSON.parse(deliveries[0]!.body), 'as GET /v1/runs/{id} shows it').toEqual((await server.request(admin, 'GET', `/v1/runs/${run.body.run_id}`)).body);
    for (const [index, delivery] of deliveries.entries()) {
      expect(signatureValid(secret, delivery), `attempt ${index + 1}'s signature ${String(delivery.headers['sandrun-signature'])}`).toBe(true);
      expect(delivery.headers['content-type']).toBe('application/json');
      expect(delivery.headers['sandrun-event']).toBe('run.finished');
      const stamp = Number(/^t=(\d+),/.exec(String(delivery.headers['sandrun-signature']))![1]);
      expect(Math.abs(stamp * 1000 - delivery.at), 'the signed time is the time of sending').toBeLessThan(5_000);
    }
    const deliveryIds = new Set(deliveries.map((delivery) => delivery.headers['sandrun-delivery']));
    expect(deliveryIds.size, 'one delivery id for all its attempts').toBe(1);
    expect([...deliveryIds][0]).toMatch(/^whd_/);
    expect(deliveries[1]!.at - deliveries[0]!.at, 'a wait before the second attempt (base 0.2 s, half of it at least)').toBeGreaterThanOrEqual(90);

    const shown = await waitForDeliveries(server, admin, id, (list) => list[0]?.status === 'delivered');
    expect(shown).toHaveLength(1);
    expect(shown[0]).toMatchObject({ id: [...deliveryIds][0], event: 'run.finished', run_id: run.body.run_id, status: 'delivered', next_attempt_at: null });
    expect(shown[0].attempts.map((attempt: any) => [attempt.attempt, attempt.status_code, attempt.error])).toEqual([
      [1, 500, null],
      [2, 500, null],
      [3, 200, null],
    ]);
    expect(receiver.received, 'nothing more after the 2xx').toHaveLength(3);
    expect((await server.request(admin, 'DELETE', `/v1/webhooks/${id}`)).status).toBe(204);
  });

  it('a redirect counts as a failure and is not followed', async () => {
    const before = receiver.received.length;
    receiver.answer([302], 200);
    const created = await server.request(admin, 'POST', '/v1/webhooks', { url: receiver.url, events: ['run.finished'] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    await server.request(admin, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'hooked', model_name: 'hello' });
    const shown = await waitForDeliveries(server, admin, created.body.id, (list) => list[0]?.status === 'delivered');
    expect(shown[0].attempts.map((attempt: any) => attempt.status_code)).toEqual([302, 200]);
    expect(shown[0].attempts[0].error).toMatch(/redirect, which is not followed/);
    expect(receiver.received.length - before, 'two POSTs to the receiver, none to where the redirect pointed').toBe(2);
    expect((await server.request(admin, 'DELETE', `/v1/webhooks/${created.body.id}`)).status).toBe(204);
  });

  it('a receiver that does not answer holds one delivery at a time, and does not hold up another webhook', async () => {
    const slow = await startWebhookReceiver();
    try {
      slow.answer([0, 0, 0], 200); // held: never answered
      receiver.answer([], 200);
      const before = receiver.received.length;
      const stuck = await server.request(admin, 'POST', '/v1/webhooks', { url: slow.url, events: ['run.finished'] });
      const prompt = await server.request(admin, 'POST', '/v1/webhooks', { url: receiver.url, events: ['run.finished'] });
      expect([stuck.status, prompt.status]).toEqual([201, 201]);
      for (let index = 0; index < 2; index += 1) {
        const run = await server.request(admin, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'hooked', model_name: 'hello' });
        expect(run.body.status, JSON.stringify(run.body)).toBe('success');
      }
      await receiver.waitFor(before + 2);
      // The held attempt lasts up to its 10 s timeout; both runs' deliveries to the other webhook went out meanwhile.
      expect(slow.received, 'requests to the receiver that does not answer').toHaveLength(1);
      const waiting = await server.request(admin, 'GET', `/v1/webhooks/${stuck.body.id}/deliveries`);
      expect(waiting.body.deliveries.map((delivery: any) => delivery.status)).toEqual(['pending', 'pending']);
    } finally {
      await slow.close();
    }
  });

  it('refuses unknown events, other fields and bad URLs, naming the field', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ url: receiver.url, events: ['run.started'] }, /^events\.0: "run\.started" is not an event; the events are run\.finished$/],
      [{ url: receiver.url, events: [] }, /^events must name at least one event/],
      [{ url: receiver.url }, /^events is required/],
      [{ events: ['run.finished'] }, /^url is required/],
      [{ url: receiver.url, events: ['run.finished'], secret: 'mine' }, /unknown field\(s\) secret/],
      [{ url: 'ftp://example.com/x', events: ['run.finished'] }, /^url: must start with https:\/\//],
      [{ url: 'not a url', events: ['run.finished'] }, /^url: must be an absolute URL/],
      [{ url: `http://user:pw@127.0.0.1:${receiver.port}/`, events: ['run.finished'] }, /^url: must not contain a user name or password/],
    ];
    for (const [body, message] of cases) {
      const answer = await server.request(admin, 'POST', '/v1/webhooks', body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      expect(answer.body.error.message, JSON.stringify(body)).toMatch(message);
    }
    expect((await server.request(admin, 'GET', '/v1/webhooks')).body.webhooks).toEqual([]);
  });

  it('the OpenAPI document describes the routes, with the admin scope', async () => {
    const document: any = await fetch(`${server.url}/openapi.json`).then((response) => response.json());
    expect(document.paths['/v1/webhooks'].post['x-required-scope']).toBe('admin');
    expect(document.paths['/v1/webhooks'].post.requestBody.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/WebhookCreate' });
    expect(document.components.schemas.WebhookCreate.required).toEqual(['url', 'events']);
    expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(['/v1/webhooks/{webhook_id}', '/v1/webhooks/{webhook_id}/deliveries']));
  });

  it('needs the admin scope', async () => {
    const runner = await server.token('hooked', ALL_SCOPES);
    const created = await server.request(runner, 'POST', '/v1/webhooks', { url: receiver.url, events: ['run.finished'] });
    expect(created.status, JSON.stringify(created.body)).toBe(403);
    expect((await server.request(runner, 'GET', '/v1/webhooks')).status).toBe(403);
  });

  it('another tenant can neither see, remove nor read the deliveries of a webhook (404), and its runs send nothing there', async () => {
    const created = await server.request(admin, 'POST', '/v1/webhooks', { url: receiver.url, events: ['run.finished'] });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const other = await server.token('other-tenant', ADMIN);
    expect((await server.request(other, 'GET', '/v1/webhooks')).body).toEqual({ webhooks: [] });
    const removed = await server.request(other, 'DELETE', `/v1/webhooks/${created.body.id}`);
    expect([removed.status, removed.body.error.message]).toEqual([404, `webhook ${created.body.id} not found`]);
    expect((await server.request(other, 'GET', `/v1/webhooks/${created.body.id}/deliveries`)).status).toBe(404);
    expect((await server.request(admin, 'GET', `/v1/webhooks/${created.body.id}/deliveries`)).body).toEqual({ deliveries: [] });
    expect((await server.request(admin, 'DELETE', `/v1/webhooks/${created.body.id}`)).status).toBe(204);
    expect((await server.request(admin, 'DELETE', `/v1/webhooks/${created.body.id}`)).status, 'gone').toBe(404);
  });

  it('the CLI adds (printing the secret once, last), lists, shows deliveries and removes', async () => {
    // Asynchronous: the server answering the CLI lives in this process's event loop.
    const sandrun = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        const env = { ...process.env, SANDRUN_URL: server.url, SANDRUN_TOKEN: admin, NO_COLOR: '1' };
        execFile(process.execPath, [BIN, ...args], { env, encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) =>
          resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }),
        );
      });
    receiver.answer([], 200);
    const added = await sandrun(['webhooks', 'add', receiver.url, '--event', 'run.finished']);
    expect(added.code, added.stderr).toBe(0);
    const secret = added.stdout.trimEnd().split('\n').at(-1)!;
    expect(secret).toMatch(/^whsec_/);
    const id = /added webhook (wh_[0-9a-f]+)/.exec(added.stdout)![1]!;
    const listed = await sandrun(['webhooks', 'list']);
    expect(listed.stdout).toMatch(new RegExp(`${id} +${receiver.url.replace(/[.?]/g, '\\$&')} +run\\.finished`));
    expect(listed.stdout, 'the list never shows the secret').not.toContain(secret);

    const before = receiver.received.length;
    const run = await server.request(admin, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'hooked', model_name: 'hello' });
    const [delivery] = (await receiver.waitFor(before + 1)).slice(before);
    expect(signatureValid(secret, delivery!), 'the printed secret verifies the delivery').toBe(true);
    await waitForDeliveries(server, admin, id, (list) => list[0]?.status === 'delivered');
    const shown = await sandrun(['webhooks', 'deliveries', id]);
    expect(shown.stdout).toMatch(new RegExp(`whd_[0-9a-f]+ +${run.body.run_id} +delivered +1 +200 +-`));
    const json = await sandrun(['webhooks', 'deliveries', id, '--json']);
    expect(JSON.parse(json.stdout).deliveries[0]).toMatchObject({ run_id: run.body.run_id, status: 'delivered' });

    const wrong = await sandrun(['webhooks', 'add', receiver.url, '--event', 'run.started']);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/"run\.started" is not an event/);
    expect((await sandrun(['webhooks', 'rm', id])).stdout).toBe(`removed webhook ${id}\n`);
    expect((await sandrun(['webhooks', 'list'])).stdout).toMatch(/^no webhooks/);
  });

  it('holds the per-tenant cap (SANDRUN_TENANT_MAX_WEBHOOKS=2): the third is refused with 409', async () => {
    const ids: string[] = [];
    for (let index = 0; index < 2; index += 1) {
      const created = await server.request(admin, 'POST', '/v1/webhooks', { url: `${receiver.url}?n=${index}`, events: ['run.finished'] });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      ids.push(created.body.id);
    }
    const third = await server.request(admin, 'POST', '/v1/webhooks', { url: receiver.url, events: ['run.finished'] });
    expect(third.status, JSON.stringify(third.body)).toBe(409);
    expect(third.body.error).toMatchObject({ code: 'conflict', details: { limit: 'tenant_webhooks', max: 2, count: 2 } });
    expect(third.body.error.message).toMatch(/SANDRUN_TENANT_MAX_WEBHOOKS=2/);
    for (const id of ids) expect((await server.request(admin, 'DELETE', `/v1/webhooks/${id}`)).status).toBe(204);
  });
});

describe('with private destinations refused (the default)', () => {
  let server: TestServer;
  let listener: ReturnType<typeof createServer>;
  let port = 0;
  let connections = 0;

  beforeAll(async () => {
    listener = createServer((socket) => {
      connections += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    port = (listener.address() as { port: number }).port;
    server = await startTestServer();
  });
  afterAll(async () => {
    await server?.close();
    await new Promise((resolve) => listener.close(resolve));
  });

  it('refuses URLs that lead to loopback, link-local, private or metadata addresses with 422, before any connection', async () => {
    const admin = await server.token('careful', ADMIN);
    const cases: Array<[string, RegExp]> = [
      [`https://127.0.0.1:${port}/hook`, /^url host 127\.0\.0\.1 resolves to a loopback address; set SANDRUN_ALLOW_PRIVATE_DESTINATIONS=1 to allow it$/],
      [`https://localhost:${port}/hook`, /^url host localhost resolves to a loopback address/],
      ['https://169.254.169.254/latest/meta-data', /^url host 169\.254\.169\.254 resolves to the cloud metadata address/],
      ['https://10.0.0.1/hook', /resolves to a private address/],
      ['https://[::ffff:127.0.0.1]/hook', /resolves to a loopback address/],
    ];
    for (const [url, message] of cases) {
      const answer = await server.request(admin, 'POST', '/v1/webhooks', { url, events: ['run.finished'] });
      expect(answer.status, `${url}: ${JSON.stringify(answer.body)}`).toBe(422);
      expect(answer.body.error.code).toBe('destination_refused');
      expect(answer.body.error.message, url).toMatch(message);
    }
    const plain = await server.request(admin, 'POST', '/v1/webhooks', { url: `http://127.0.0.1:${port}/hook`, events: ['run.finished'] });
    expect([plain.status, plain.body.error.message]).toEqual([400, 'url: must start with https:// (plain http:// only when the operator sets SANDRUN_ALLOW_PRIVATE_DESTINATIONS=1)']);
    expect(connections, 'connections to the loopback listener').toBe(0);
    expect((await server.request(admin, 'GET', '/v1/webhooks')).body.webhooks).toEqual([]);
  });
});

describe('the destination policy at delivery time', () => {
  it('a webhook made while private destinations were allowed gets no connection once they are not: each attempt records the refusal (a loopback address, plain http)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sandrun-webhooks-policy-'));
    const receiver = await startWebhookReceiver();
    const repo = new TestRepo(FILES);
    try {
      const permissive = await startTestServer({ SANDRUN_ALLOW_PRIVATE_DESTINATIONS: '1' }, { dataDir });
      const admin = await permissive.token('moved', ADMIN);
      let webhookId: string;
      let plainId: string;
      try {
        expect((await permissive.request(admin, 'POST', '/v1/projects', { name: 'moved', repo_url: repo.dir })).status).toBe(201);
        // https to the plain receiver: any connection at all would be counted, answered or not.
        const created = await permissive.request(admin, 'POST', '/v1/webhooks', { url: `https://127.0.0.1:${receiver.port}/hooks`, events: ['run.finished'] });
        expect(created.status, JSON.stringify(created.body)).toBe(201);
        webhookId = created.body.id;
        const plain = await permissive.request(admin, 'POST', '/v1/webhooks', { url: receiver.url, events: ['run.finished'] });
        expect(plain.status, JSON.stringify(plain.body)).toBe(201);
        plainId = plain.body.id;
      } finally {
        await permissive.close();
      }
      const strict = await startTestServer({ SANDRUN_WEBHOOK_RETRY_BASE_SECONDS: '0.2' }, { dataDir });
      try {
        const run = await strict.request(admin, 'POST', '/v1/runs', { scope: 'model', mode: 'sync', project_name: 'moved', model_name: 'hello' });
        expect(run.body.status, JSON.stringify(run.body)).toBe('success');
        const shown = await waitForDeliveries(strict, admin, webhookId, (list) => (list[0]?.attempts.length ?? 0) >= 2);
        expect(shown[0]).toMatchObject({ run_id: run.body.run_id, status: 'pending' });
        for (const attempt of shown[0].attempts) {
          expect(attempt.status_code).toBeNull();
          expect(attempt.error).toBe(`delivering to https://127.0.0.1:${receiver.port}: url host 127.0.0.1 resolves to a loopback address; set SANDRUN_ALLOW_PRIVATE_DESTINATIONS=1 to allow it`);
        }
        const plainShown = await waitForDeliveries(strict, admin, plainId, (list) => (list[0]?.attempts.length ?? 0) >= 1);
        expect(plainShown[0].attempts[0].error).toBe('url: must start with https:// (plain http:// only when the operator sets SANDRUN_ALLOW_PRIVATE_DESTINATIONS=1)');
        expect(receiver.connections(), 'connections to the receiver').toBe(0);
      } finally {
        await strict.close();
      }
    } finally {
      await receiver.close();
      repo.remove();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
