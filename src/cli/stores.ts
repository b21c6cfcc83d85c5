// For CLI commands that work on the server's database directly (tokens, tenants, audit): open the stores, use them, close them.
import { loadConfig, type Config } from '../config.ts';
import { errorMessage } from '../errors.ts';
import { openStores, type Stores } from '../sandrun.ts';
import { usageError } from './cli-error.ts';
import type { CliContext } from './context.ts';

export type { Stores } from '../sandrun.ts';

/** Opens the database the server uses (SANDRUN_DATABASE_URL, else the data directory's), and closes it once `use` has settled. */
export async function withStores<T>(context: CliContext, use: (stores: Stores, config: Config) => Promise<T> | T): Promise<T> {
  let config;
  try {
    config = loadConfig(context.env);
  } catch (error) {
    throw usageError(errorMessage(error));
  }
  const stores = await openStores(config);
  try {
    return await use(stores, config);
  } finally {
    await stores.database.close();
  }
}
