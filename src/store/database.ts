// Opens the database: SQLite in the data directory (WAL, foreign keys, busy timeout) or PostgreSQL at a URL, schema brought up to date.
import Database from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, type SqliteDatabase, type SqliteStatement } from 'kysely';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type pg from 'pg';
import { migrateSqlite, migratePostgres } from './migrations.ts';
import { registerReader } from './prepared-read.ts';
import type { Schema } from './schema.ts';

export type DialectKind = 'sqlite' | 'postgres';

/** Where the database is: a SQLite file (the default, in the data directory) or a PostgreSQL URL (SANDRUN_DATABASE_URL). */
export type DatabaseLocation = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };

export type Db = Kysely<Schema>;

export interface StoreDatabase {
  kind: DialectKind;
  db: Db;
  /** SQLite only: the open file, for its online backup API (src/store/backup.ts); every query goes through `db`. */
  sqlite?: Database.Database;
  close(): Promise<void>;
}

/** Statements kept prepared per connection: Kysely compiles the same SQL for the same query, so this spares SQLite re-parsing it. */
const STATEMENT_CACHE_SIZE = 500;

/** better-sqlite3 as Kysely's SqliteDialect wants it, with prepared statements reused by their SQL. */
function cachingDatabase(raw: Database.Database): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  return {
    close: () => raw.close(),
    prepare(sql) {
      let statement = cache.get(sql);
      if (!statement) {
        statement = raw.prepare(sql);
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
        cache.set(sql, statement);
      }
      return statement;
    },
  };
}

function openSqlite(file: string): StoreDatabase {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const raw = new Database(file);
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = NORMAL');
  raw.pragma('foreign_keys = ON');
  raw.pragma('busy_timeout = 5000');
  // Incremental vacuum lets the retention job give freed pages back to the disk in small steps; an older
  // database is converted once (a full VACUUM, at start, before anything is served).
  if (raw.pragma('auto_vacuum', { simple: true }) !== 2) {
    raw.pragma('auto_vacuum = INCREMENTAL');
    raw.exec('VACUUM');
  }
  migrateSqlite(raw);
  const db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: cachingDatabase(raw) }) });
  // The hot reads' own connection (prepared-read.ts); an in-memory database is another database on every connection.
  const reader = file === ':memory:' ? undefined : new Database(file, { readonly: true, fileMustExist: true });
  if (reader) {
    reader.pragma('busy_timeout = 5000');
    registerReader(db, reader);
  }
  return {
    kind: 'sqlite',
    db,
    sqlite: raw,
    close: async () => {
      reader?.close();
      await db.destroy();
    },
  };
}

// node-postgres hands BIGINT (COUNT(*), identity columns, byte sizes) and NUMERIC (SUM of a BIGINT) back as strings, since
// they may exceed 2^53; every such value here (counts, sequence numbers, bytes) is far below it, so they come back as numbers.
function numberTypes(pgTypes: typeof pg.types): { getTypeParser: typeof pg.types.getTypeParser } {
  const numeric = new Set<number>([pgTypes.builtins.INT8, pgTypes.builtins.NUMERIC]);
  const toNumber = (value: string): number => Number(value);
  function getTypeParser(oid: number, format?: 'text' | 'binary'): unknown {
    return numeric.has(oid) && format !== 'binary' ? toNumber : (pgTypes.getTypeParser(oid, format ?? 'text') as unknown);
  }
  return { getTypeParser: getTypeParser as typeof pg.types.getTypeParser };
}

async function openPostgres(url: string, onIdleError: (error: Error) => void): Promise<StoreDatabase> {
  // Loaded only for PostgreSQL: a SQLite server's start is spared its modules.
  const { default: pg } = await import('pg');
  const pool = new pg.Pool({ connectionString: url, types: numberTypes(pg.types), max: 10 });
  // A pooled connection the server drops while idle is removed by pg; without a listener its error would end the process.
  pool.on('error', onIdleError);
  try {
    await migratePostgres(pool);
  } catch (error) {
    await pool.end();
    throw error;
  }
  const db = new Kysely<Schema>({ dialect: new PostgresDialect({ pool }) });
  return { kind: 'postgres', db, close: () => db.destroy() };
}

export async function openDatabase(location: DatabaseLocation, onIdleError: (error: Error) => void = (error) => process.emitWarning(error)): Promise<StoreDatabase> {
  return location.kind === 'sqlite' ? openSqlite(location.file) : openPostgres(location.url, onIdleError);
}

/**
 * SQLite only: `use` gets the raw connection (for PRAGMAs, which better-sqlite3 steps to the end) while Kysely's one
 * connection is held, so no other query runs in between.
 */
export function withSqliteConnection<T>(database: StoreDatabase, use: (raw: Database.Database, connection: Db) => Promise<T> | T): Promise<T> {
  const raw = database.sqlite;
  if (!raw) throw new Error('withSqliteConnection needs a SQLite database');
  return database.db.connection().execute(async (connection) => use(raw, connection));
}

/** Whether `error` is a unique index's refusal (SQLite's SQLITE_CONSTRAINT_UNIQUE / PRIMARYKEY, PostgreSQL's 23505). */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}
