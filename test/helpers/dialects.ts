// Runs a store test against both databases: a fresh SQLite file in a temp dir, and a fresh PostgreSQL database.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe } from 'vitest';
import { openStores, type Stores } from '../../src/sandrun.ts';
import type { DialectKind } from '../../src/store/database.ts';
import { createTestDatabase, type TestDatabase } from './postgres.ts';

export interface DialectContext {
  kind: DialectKind;
  /**
   * Stores on the database. PostgreSQL: a new instance with its own pool each time, as another server would have.
   * SQLite: the same instance each time: one process serves a SQLite file (a second connection in the same process
   * would wait for the first one's lock with the event loop blocked).
   */
  open(): Promise<Stores>;
  /** Where it is: the data directory (SQLite's file is sandrun.db in it) and, for PostgreSQL, the URL. */
  dataDir: string;
  url: string | undefined;
}

/** `define` is called once per dialect inside its own describe block; every store it opened is closed after the block. */
export function eachDialect(define: (context: DialectContext) => void): void {
  describe.each(['sqlite', 'postgres'] as const)('%s', (kind) => {
    let database: TestDatabase | undefined;
    const opened: Stores[] = [];
    const context: DialectContext = {
      kind,
      dataDir: '',
      url: undefined,
      async open() {
        if (kind === 'sqlite' && opened[0]) return opened[0];
        const stores = await openStores({ dataDir: context.dataDir, databaseUrl: context.url });
        opened.push(stores);
        return stores;
      },
    };
    beforeAll(async () => {
      context.dataDir = mkdtempSync(join(tmpdir(), `sandrun-store-${kind}-`));
      if (kind === 'postgres') {
        database = await createTestDatabase();
        context.url = database.url;
      }
    });
    afterAll(async () => {
      for (const stores of opened.splice(0)) await stores.database.close();
      await database?.drop();
      rmSync(context.dataDir, { recursive: true, force: true });
    });
    define(context);
  });
}
