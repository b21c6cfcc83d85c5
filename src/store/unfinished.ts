// "A run not yet ended", as the database's partial indexes state it (runs_unfinished, runs_unfinished_server).
import { sql, type RawBuilder } from 'kysely';

/**
 * `column IN ('pending', 'running')` with the values written out: SQLite uses a partial index only for a WHERE that it
 * can see implies the index's own, and a bound `IN (?, ?)` is not one: with 100,000 runs each such query read them all
 * (65–77 ms at start-up and at every reaper pass).
 */
export function unfinished(column: 'status' | 'runs.status' = 'status'): RawBuilder<boolean> {
  return sql<boolean>`${sql.ref(column)} IN ('pending', 'running')`;
}
