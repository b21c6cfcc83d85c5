// A throw-away PostgreSQL database per test file, on the local server scripts/postgres.sh starts (the test command runs it).
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The role scripts/postgres.sh creates; SANDRUN_TEST_POSTGRES_URL points elsewhere. */
const ADMIN_URL = process.env.SANDRUN_TEST_POSTGRES_URL ?? 'postgres://sandrun_test:sandrun_test@127.0.0.1:5432/postgres';

export interface TestDatabase {
  /** postgres://… of the new, empty database. */
  url: string;
  /** Drops it (closing whatever still holds it open). */
  drop(): Promise<void>;
}

async function asAdmin<T>(use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `sandrun_t_${randomBytes(6).toString('hex')}`;
  await asAdmin((client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => asAdmin((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}
