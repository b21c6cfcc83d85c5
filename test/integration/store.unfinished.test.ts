// "A run not yet ended" as the store asks it: SQLite finds such runs through the partial index, not by reading every run.
import { expect, it } from 'vitest';
import { openStores } from '../../src/sandrun.ts';
import { unfinished } from '../../src/store/unfinished.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

it('is answered on SQLite from the runs_unfinished index (a bound IN (?, ?) read every run: 65–77 ms with 100,000)', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sandrun-unfinished-'));
  const stores = await openStores({ dataDir, databaseUrl: undefined });
  try {
    const plan = (query: { compile(): { sql: string; parameters: readonly unknown[] } }) => {
      const compiled = query.compile();
      return (stores.database.sqlite!.prepare(`EXPLAIN QUERY PLAN ${compiled.sql}`).all(...compiled.parameters) as { detail: string }[]).map((row) => row.detail).join('; ');
    };
    const { db } = stores.database;
    expect(plan(db.selectFrom('runs').select(['id', 'sandbox_ref']).where(unfinished()))).toMatch(/USING INDEX runs_unfinished/);
    expect(plan(db.selectFrom('runs').select('id').where('status', 'in', ['pending', 'running'])), 'the bound form, for contrast').toMatch(/^SCAN runs/);
  } finally {
    await stores.database.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
