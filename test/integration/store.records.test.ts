// The other stores on SQLite and PostgreSQL: tokens, projects, secrets, webhooks, audit, environments, retention — each store's rules.
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import { eachDialect } from '../helpers/dialects.ts';
import { AT, completion, newRun, tenantWithProject } from '../helpers/store-fixtures.ts';

eachDialect((dialect) => {
  it('tokens: found by hash only, listed per tenant without the hash, revoked once', async () => {
    const stores = await dialect.open();
    await stores.tenants.ensure('tok', AT);
    await stores.tenants.ensure('tok', AT); // a second ensure is no error
    await stores.tokens.insert({ id: 't1', tenantId: 'tok', name: 'ci', scopes: ['runs:read'], createdAt: AT, expiresAt: null, secretHash: 'h1' });
    expect(await stores.tokens.byHash('h1')).toMatchObject({ id: 't1', tenantId: 'tok', scopes: ['runs:read'], revokedAt: null });
    expect(await stores.tokens.byHash('h2')).toBeUndefined();
    expect((await stores.tokens.list('tok')).map((token) => token.id)).toEqual(['t1']);
    expect(await stores.tokens.list('nobody')).toEqual([]);
    expect(JSON.stringify(await stores.tokens.list()), 'a listing never carries the hash').not.toContain('h1');
    expect(await stores.tokens.revoke('t1', AT)).toBe(true);
    expect(await stores.tokens.revoke('t1', AT), 'revoked already').toBe(false);
  });

  it('projects: one live project per name and tenant; a removed one frees its name and takes its secrets with it', async () => {
    const stores = await dialect.open();
    const project = await tenantWithProject(stores, 'proj');
    await expect(tenantWithProject(stores, 'proj'), 'a second live "demo"').rejects.toMatchObject({ code: 'conflict' });
    await tenantWithProject(stores, 'proj-other'); // the same name in another tenant
    expect(await stores.projects.byName('proj-other', 'demo')).toBeDefined();
    await stores.projectSecrets.set({ tenantId: 'proj', projectId: project.projectId, key: 'K', sealed: 's', at: AT }, 10);
    await stores.projects.delete(project.projectId, AT);
    expect(await stores.projects.byName('proj', 'demo')).toBeUndefined();
    expect(await stores.projectSecrets.sealed(project.projectId), 'its secrets').toEqual([]);
    const again = await tenantWithProject(stores, 'proj');
    expect(again.projectId).not.toBe(project.projectId);
    await stores.projects.setRepository(again.projectId, '/elsewhere', { type: 'https_token', sealed: 'sealed-token' });
    expect(await stores.projects.byName('proj', 'demo')).toMatchObject({ repoUrl: '/elsewhere', credential: { type: 'https_token', sealed: 'sealed-token' } });
  });

  it("secrets: created or replaced, never past the project's limit even when set side by side", async () => {
    const one = await dialect.open();
    const two = await dialect.open();
    const project = await tenantWithProject(one, 'sec');
    const set = (stores: typeof one, key: string) => stores.projectSecrets.set({ tenantId: 'sec', projectId: project.projectId, key, sealed: `v-${key}`, at: AT }, 3);
    const results = await Promise.all(['A', 'B', 'C', 'D', 'E', 'F'].map((key, i) => set(i % 2 ? one : two, key)));
    expect(results.filter((result) => 'created' in result).length, 'secrets made of six concurrent sets under a limit of 3').toBe(3);
    expect(await one.projectSecrets.count('sec', project.projectId)).toBe(3);
    const [first] = await one.projectSecrets.names('sec', project.projectId);
    expect(await set(one, first!.key), 'replacing one at the limit').toEqual({ created: false });
    expect(await one.projectSecrets.names('other', project.projectId), "another tenant's listing").toEqual([]);
    expect(await one.projectSecrets.remove('sec', project.projectId, first!.key)).toBe(true);
    expect(await one.projectSecrets.remove('sec', project.projectId, first!.key)).toBe(false);
  });

  it('webhooks: never past the tenant limit, a delivery claimed by one worker only, settled once', async () => {
    const one = await dialect.open();
    const two = await dialect.open();
    await one.tenants.ensure('hooks', AT);
    const hook = (id: string) => ({ id, tenantId: 'hooks', url: 'https://example.com/h', events: ['run.finished'], secretSealed: 's', createdAt: AT });
    const added = await Promise.all(['w1', 'w2', 'w3', 'w4'].map((id, i) => (i % 2 ? one : two).webhooks.insert(hook(id), 2)));
    expect(added.filter((result) => result.full === undefined).length, 'webhooks made of four concurrent creations under a limit of 2').toBe(2);
    const [webhook] = await one.webhooks.list('hooks');
    expect(await one.webhooks.get('other', webhook!.id)).toBeUndefined();
    await one.webhooks.enqueue([{ id: 'd1', webhookId: webhook!.id, tenantId: 'hooks', event: 'run.finished', runId: 'r1', body: '{}', at: AT }]);
    const [due] = await one.webhooks.due('2026-12-01T10:00:01.000Z', 10);
    expect(due).toMatchObject({ id: 'd1', url: 'https://example.com/h', body: '{}' });
    const claims = await Promise.all([one, two].map((stores) => stores.webhooks.claim('d1', due!.nextAttemptAt!, '2026-12-01T10:00:20.000Z')));
    expect(claims.filter(Boolean).length, 'workers that took the delivery').toBe(1);
    expect(await one.webhooks.nextDue()).toBe('2026-12-01T10:00:20.000Z');
    await one.webhooks.settle({ deliveryId: 'd1', attempt: 1, at: AT, statusCode: 200, error: null, status: 'delivered', nextAttemptAt: null });
    const [delivery] = await one.webhooks.deliveries('hooks', webhook!.id, 10);
    expect(delivery).toMatchObject({ status: 'delivered', attempts: 1, attemptList: [{ attempt: 1, statusCode: 200 }] });
    expect(await one.webhooks.nextDue()).toBeNull();
    expect(await one.webhooks.prune('2027-01-01T00:00:00.000Z')).toBe(1);
    expect(await one.webhooks.remove('other', webhook!.id)).toBe(false);
    expect(await one.webhooks.remove('hooks', webhook!.id)).toBe(true);
  });

  it('audit: appended and read newest first per tenant, never changed or removed', async () => {
    const stores = await dialect.open();
    const entry = (tenantId: string | null, action: string) => ({
      at: AT, tenantId, credentialId: null, action, target: null, status: 200, outcome: 'ok' as const, errorCode: null, sourceAddress: '127.0.0.1', requestId: randomUUID(),
    });
    for (const action of ['a', 'b', 'c']) await stores.audit.append(entry('aud', action));
    await stores.audit.append(entry(null, 'anonymous'));
    const page = await stores.audit.list({ tenantId: 'aud', limit: 2 });
    expect(page.map((row) => row.action)).toEqual(['c', 'b']);
    expect((await stores.audit.list({ tenantId: 'aud', limit: 5, beforeSeq: page[1]!.seq })).map((row) => row.action)).toEqual(['a']);
    expect((await stores.audit.list({ limit: 1 }))[0]!.action, 'every tenant (the operator)').toBe('anonymous');
    await expect(stores.database.db.deleteFrom('audit_log').execute()).rejects.toThrow(/append-only/);
    await expect(stores.database.db.updateTable('audit_log').set({ action: 'x' }).execute()).rejects.toThrow(/append-only/);
  });

  it('environments: a build starts again from scratch, ends ready, and is found idle', async () => {
    const stores = await dialect.open();
    await stores.environments.start('k1', 'env', 'tag-1', 'base', AT);
    expect((await stores.environments.building()).map((record) => record.key)).toEqual(['k1']);
    await stores.environments.finish('k1', { status: 'ready', log: 'ok', errorMessage: null, imageId: 'sha256:i', sizeBytes: 3_000_000_000, buildSeconds: 2.5 }, AT);
    await stores.environments.start('k1', 'env', 'tag-1', 'base', '2026-12-01T11:00:00.000Z');
    expect(await stores.environments.get('k1'), 'a restarted build forgets its outcome').toMatchObject({ status: 'building', imageId: null, log: '' });
    await stores.environments.finish('k1', { status: 'ready', log: 'ok', errorMessage: null, imageId: 'sha256:i', sizeBytes: 3_000_000_000, buildSeconds: 2.5 }, AT);
    expect(await stores.environments.get('k1')).toMatchObject({ status: 'ready', sizeBytes: 3_000_000_000, buildSeconds: 2.5 });
    expect((await stores.environments.ofTenant('env')).length).toBe(1);
    expect((await stores.environments.idleSince('2026-12-02T00:00:00.000Z')).map((record) => record.key)).toEqual(['k1']);
    await stores.environments.touch('k1', '2026-12-03T00:00:00.000Z');
    expect(await stores.environments.idleSince('2026-12-02T00:00:00.000Z')).toEqual([]);
    await stores.environments.remove('k1');
    expect(await stores.environments.get('k1')).toBeUndefined();
  });

  it("retention: purges a tenant's finished runs before the cut in batches, keeps the rest, drops their artifacts' rows and expired keys", async () => {
    const stores = await dialect.open();
    const project = await tenantWithProject(stores, 'ret');
    const old = await stores.runs.insert(newRun(project), AT);
    await stores.runs.complete(old.id, completion({ artifacts: [{ path: 'x.txt', size: 1, sha256: 'd'.repeat(64), contentType: 'text/plain' }] }));
    const running = await stores.runs.insert(newRun(project), AT);
    await stores.runs.idempotencyKeys.record({ tenantId: 'ret', key: 'old-key', requestHash: 'h' }, running.id, AT);
    await stores.retention.setRetention('ret', 3);
    expect((await stores.retention.tenants()).find((tenant) => tenant.tenantId === 'ret')).toEqual({ tenantId: 'ret', retentionDays: 3 });
    await expect(stores.retention.setRetention('nobody', 3)).rejects.toMatchObject({ code: 'not_found' });
    expect(await stores.retention.isArtifactReferenced('d'.repeat(64))).toBe(true);
    expect(await stores.retention.purgeBatch('ret', '2026-12-05T00:00:00.000Z', '2026-12-05T00:00:00.000Z', 10)).toBe(1);
    expect(await stores.retention.purgeBatch('ret', '2026-12-05T00:00:00.000Z', '2026-12-05T00:00:00.000Z', 10), 'a second pass').toBe(0);
    expect(await stores.runs.get(old.id)).toMatchObject({ stdout: '', outputs: {}, purgedAt: '2026-12-05T00:00:00.000Z', status: 'success', artifacts: [] });
    expect(await stores.retention.isArtifactReferenced('d'.repeat(64))).toBe(false);
    expect(await stores.retention.isCheckoutReferenced(project.projectId, 'a'.repeat(40)), 'the running run still uses it').toBe(true);
    expect(await stores.runs.idempotencyKeys.expire('2026-12-02T00:00:00.000Z')).toBe(1);
    expect(await stores.retention.vacuumStep(100)).toBeGreaterThanOrEqual(0);
    await stores.retention.checkpoint();
  });
});
