// For CLI commands that work on the server's database directly (tokens, tenants, audit): open the stores, use them, close them.
import { loadConfig, type Config } from '../config.ts';
import { errorMessage } from '../errors.ts';
import { openStores } from '../sandrun.ts';
import { usageError } from './cli-error.ts';
import type { CliContext } from './context.ts';

export type Stores = ReturnType<typeof openStores>;

export function withStores<T>(context: CliContext, use: (stores: Stores, config: Config) => T): T {
  let config;
  try {
    config = loadConfig(context.env);
  } catch (error) {
    throw usageError(errorMessage(error));
  }
  const stores = openStores(config);
  let result: T;
  try {
    result = use(stores, config);
  } catch (error) {
    stores.db.close();
    throw error;
  }
  // An async use (an online backup) keeps the database open until it settles.
  if (result instanceof Promise) return result.finally(() => stores.db.close()) as T;
  stores.db.close();
  return result;
}
