// Reads compiled once (prepared-read.ts), on SQLite and PostgreSQL: the values bound where the query uses them, and
// only committed data seen, even while a write transaction is open.
import { expect, it } from 'vitest';
import { preparedRead } from '../../src/store/prepared-read.ts';
import { eachDialect } from '../helpers/dialects.ts';
import { AT, completion, newRun, tenantWithProject } from '../helpers/store-fixtures.ts';

eachDialect((dialect) => {
  it('binds each value where the query uses it, in any order and more than once, next to constants', async () => {
    const { db } = (await dialect.open()).database;
    await tenantWithProject(await dialect.open(), 'bound');
    await tenantWithProject(await dialect.open(), 'other');
    const read = preparedRead(db, 2, (second, first) =>
      db.selectFrom('tenants').select('id').where((eb) => eb.or([eb('id', '=', first), eb('id', '=', second), eb('id', '=', 'constant')])).where('id', '<>', first).orderBy('id'),
    );
    expect((await read('bound', 'other')).map((row) => row.id), 'tenants other than the first value').toEqual(['bound']);
    expect((await read('other', 'bound')).map((row) => row.id)).toEqual(['other']);
    expect(() => preparedRead(db, 2, (only) => db.selectFrom('tenants').select('id').where('id', '=', only)), 'a value the query never uses').toThrow(/value.* 1 .*not used/);
  });

  it("a run read while a write transaction is open gets the last committed state without waiting for it; once its end is recorded, with its artifacts", async () => {
    const stores = await dialect.open();
    const project = await tenantWithProject(stores, 'halfway');
    const run = await stores.runs.insert(newRun(project), AT);
    const artifacts = [{ path: 'a.json', size: 2, sha256: 'f'.repeat(64), contentType: 'application/json' }];
    // The end's transaction, held open between its two writes while the run is read.
    let seenMidway: Awaited<ReturnType<typeof stores.runs.getForTenant>> | undefined;
    await stores.database.db.transaction().execute(async (trx) => {
      await trx.updateTable('runs').set({ status: 'success', finished_at: AT }).where('id', '=', run.id).execute();
      // On SQLite this read used to wait for the transaction's one connection (here: for ever); now it has its own.
      seenMidway = await stores.runs.getForTenant('halfway', run.id);
      await trx.updateTable('runs').set({ status: 'running', finished_at: null }).where('id', '=', run.id).execute();
    });
    expect(seenMidway?.status, 'what a poll saw while the end was not committed').toBe('pending');
    expect(await stores.runs.complete(run.id, completion({ artifacts }))).toBe(true);
    const after = await stores.runs.getForTenant('halfway', run.id);
    expect(after?.status).toBe('success');
    expect(after?.artifacts.map((artifact) => artifact.path)).toEqual(['a.json']);
    expect(await stores.runs.getForTenant('another-tenant', run.id), "another tenant's read").toBeUndefined();
  });
});
