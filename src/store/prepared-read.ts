// Reads served hundreds of times a second (a run's poll: its token, the run, its artifacts), compiled by Kysely once.
//
// On SQLite they run synchronously on a read-only connection of their own, which sees committed data only (WAL):
// through Kysely, each read waits its turn on the one connection's queue of promises, which under a poll load cost
// more CPU than the read itself (docs/decisions.md, "Hot reads beside Kysely"). On PostgreSQL the compiled query goes
// to the pool as it is, without being built and compiled again.
import type Database from 'better-sqlite3';
import { CompiledQuery, type Compilable, type Kysely } from 'kysely';
import type { Schema } from './schema.ts';

/** The store's Kysely instance (database.ts `Db`, named here apart so that database.ts can import this file). */
type Db = Kysely<Schema>;

const readers = new WeakMap<Db, Database.Database>();

/** The read-only connection `preparedRead` uses for `db` (SQLite only). */
export function registerReader(db: Db, reader: Database.Database): void {
  readers.set(db, reader);
}

/** Stands for the query's i-th value while it is compiled; no real value starts with a NUL. */
const MARKER = '\u0000sandrun-value:';

/**
 * A read whose values are given at each call (all strings): `build` is given one marker per value and returns the
 * query, compiled once here. Values are bound by position, so a marker may be used only where a value goes.
 */
export function preparedRead<Row>(db: Db, arity: number, build: (...markers: string[]) => Compilable<Row>): (...values: string[]) => Promise<Row[]> {
  const compiled = build(...Array.from({ length: arity }, (_, i) => `${MARKER}${i}`)).compile();
  const slots = compiled.parameters.map((value) => (typeof value === 'string' && value.startsWith(MARKER) ? Number(value.slice(MARKER.length)) : -1));
  const unused = Array.from({ length: arity }, (_, i) => i).filter((i) => !slots.includes(i));
  if (unused.length > 0) throw new Error(`preparedRead: values ${unused.join(', ')} are not used by the query ${compiled.sql}`);
  const bind = (values: readonly string[]) => {
    if (values.length !== arity) throw new Error(`preparedRead: ${arity} values expected, ${values.length} given`);
    return compiled.parameters.map((value, i) => (slots[i]! >= 0 ? values[slots[i]!] : value));
  };
  const reader = readers.get(db);
  if (reader) {
    const statement = reader.prepare(compiled.sql);
    // eslint-disable-next-line @typescript-eslint/require-await -- async for the callers' one shape (a promise; a throw rejects it).
    return async (...values) => statement.all(...bind(values)) as Row[];
  }
  return async (...values) => (await db.executeQuery<Row>(CompiledQuery.raw(compiled.sql, bind(values)))).rows;
}
