// Serves sandrun with the configuration from the environment until SIGTERM or SIGINT (`npm start`, `sandrun serve`).
import { loadConfig } from './config.ts';
import { errorMessage } from './errors.ts';
import { createLogger, createSandrun } from './sandrun.ts';

export async function serve(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let config;
  try {
    config = loadConfig(env);
  } catch (error) {
    process.stderr.write(`sandrun: ${errorMessage(error)}\n`);
    process.exit(2);
  }
  const logger = createLogger(config);
  const sandrun = createSandrun(config, logger);
  await sandrun.listen();
  const stop = (signal: string) => {
    logger.info({ signal }, 'stopping');
    void sandrun.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
