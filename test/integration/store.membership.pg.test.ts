// Servers of one PostgreSQL database: who is alive (heartbeats on the database's clock), and which unfinished runs each may take.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStores, type Stores } from '../../src/sandrun.ts';
import { ServerStore } from '../../src/store/server-store.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/postgres.ts';
import { AT, newRun, tenantWithProject } from '../helpers/store-fixtures.ts';

const DEAD_SECONDS = 30;
let database: TestDatabase;
let dataDir: string;
const opened: Stores[] = [];

/** Stores on their own pool, as another server would have them. */
async function server(): Promise<Stores & { servers: ServerStore }> {
  const stores = await openStores({ dataDir, databaseUrl: database.url });
  opened.push(stores);
  return { ...stores, servers: new ServerStore(stores.database.db) };
}

/** As if the server had said nothing for a minute (its process frozen, or killed). */
async function silence(stores: Stores, serverId: string): Promise<void> {
  await sql`UPDATE servers SET heartbeat_at = now() - interval '1 minute' WHERE id = ${serverId}`.execute(stores.database.db);
}

beforeAll(async () => {
  database = await createTestDatabase();
  dataDir = mkdtempSync(join(tmpdir(), 'sandrun-members-'));
});
afterAll(async () => {
  for (const stores of opened.splice(0)) await stores.database.close();
  await database.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('membership on PostgreSQL', () => {
  it("a live server's runs are taken by nobody; once it is silent, two servers claiming at once take each run exactly once", async () => {
    const [x, y, z] = [await server(), await server(), await server()];
    await x.servers.join('x', 'instance-x');
    await y.servers.join('y', 'instance-y');
    await z.servers.join('z', 'instance-z');
    const project = await tenantWithProject(x, 'claims');
    const runs = await Promise.all(Array.from({ length: 40 }, () => x.runs.insert({ ...newRun(project), serverId: 'x' }, AT)));
    expect(await y.servers.deadServers('y', DEAD_SECONDS), 'dead servers while x heartbeats').toEqual([]);
    expect(await y.runs.claim('y', await y.servers.deadServers('y', DEAD_SECONDS)), "runs y takes from a live x").toEqual([]);

    await silence(x, 'x');
    expect(await y.servers.deadServers('y', DEAD_SECONDS)).toEqual(['x']);
    const claims = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? y : z)).map(async (taker) => {
        const id = taker === y ? 'y' : 'z';
        return { id, runs: await taker.runs.claim(id, await taker.servers.deadServers(id, DEAD_SECONDS)) };
      }),
    );
    const taken = claims.flatMap((claim) => claim.runs.map((run) => run.id));
    expect(taken.length, 'claims of the 40 runs, all takers together').toBe(40);
    expect(new Set(taken)).toEqual(new Set(runs.map((run) => run.id)));
    const owners = await sql<{ server_id: string; n: number }>`SELECT server_id, count(*)::int AS n FROM runs GROUP BY server_id`.execute(x.database.db);
    expect(owners.rows.reduce((sum, row) => sum + row.n, 0)).toBe(40);
    expect(owners.rows.every((row) => row.server_id === 'y' || row.server_id === 'z'), JSON.stringify(owners.rows)).toBe(true);
  });

  it('a clean stop, or a new start on the same data directory, makes a server dead at once; a heartbeat of a stopped one is refused', async () => {
    const [a, b] = [await server(), await server()];
    await a.servers.join('a1', 'instance-a');
    await b.servers.join('b1', 'instance-b');
    await a.servers.join('a2', 'instance-a');
    expect(await b.servers.deadServers('b1', DEAD_SECONDS), 'after instance-a started again').toContain('a1');
    expect(await a.servers.heartbeat('a1'), "the earlier start's heartbeat").toBe(false);
    expect(await a.servers.heartbeat('a2')).toBe(true);
    expect(await b.servers.deadInstances('instance-b', DEAD_SECONDS), 'instance-a has a live server').not.toContain('instance-a');
    await a.servers.stop('a2');
    expect(await b.servers.deadServers('b1', DEAD_SECONDS)).toEqual(expect.arrayContaining(['a1', 'a2']));
    expect(await b.servers.deadInstances('instance-b', DEAD_SECONDS), 'instance-a once its last server stopped').toContain('instance-a');
  });

  it('one run whose server is dead is taken alone; a finished run is never taken', async () => {
    const [c, d] = [await server(), await server()];
    await c.servers.join('c', 'instance-c');
    await d.servers.join('d', 'instance-d');
    const project = await tenantWithProject(c, 'one');
    const [first, second] = [await c.runs.insert({ ...newRun(project), serverId: 'c' }, AT), await c.runs.insert({ ...newRun(project), serverId: 'c' }, AT)];
    await silence(c, 'c');
    const dead = await d.servers.deadServers('d', DEAD_SECONDS);
    expect((await d.runs.claim('d', dead, first.id)).map((run) => run.id)).toEqual([first.id]);
    expect((await d.runs.get(second.id))?.status).toBe('pending');
    expect((await d.runs.unfinishedForReaper('d')).runIds, 'the run still c’s, for the reaper').toContain(second.id);
    expect((await d.runs.unfinishedForReaper('d')).runIds).not.toContain(first.id);
  });
});
