// Serves sandrun with the configuration from the environment until SIGTERM or SIGINT (`npm start`, `sandrun serve`).
import { loadConfig } from './config.ts';
import { errorMessage } from './errors.ts';
import { createLogger, createSandrun } from './sandrun.ts';
import { delay } from './delay.ts';

/** Beyond the shutdown grace period, how long cancelling what is left and removing containers may take. */
const CLEANUP_MARGIN_MS = 20_000;
/** How long a forced stop may spend removing containers before it exits anyway. */
const FORCED_CLEANUP_MS = 10_000;
/** The exit code of a stop that was forced (third signal, or the grace period and margin passed). */
const FORCED_EXIT_CODE = 1;

export async function serve(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let config;
  try {
    config = loadConfig(env);
  } catch (error) {
    process.stderr.write(`sandrun: ${errorMessage(error)}\n`);
    process.exit(2);
  }
  const logger = createLogger(config);
  const sandrun = await createSandrun(config, logger);
  await sandrun.listen();

  // A process group's stop signal often arrives twice (npm forwards its own; so do shells and supervisors): only a
  // third signal, or a stop that outlasts the grace period and its margin, cuts the graceful stop short.
  let signals = 0;
  let forcing = false;
  const force = (reason: string) => {
    if (forcing) return;
    forcing = true;
    logger.error({ reason }, 'forcing exit');
    const removed = sandrun.removeContainers().catch((error: unknown) => logger.error({ err: error }, 'removing containers on a forced exit failed'));
    const bounded = delay(FORCED_CLEANUP_MS);
    void Promise.race([removed, bounded]).then(() => process.exit(FORCED_EXIT_CODE));
  };
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals === 1) {
      logger.info({ signal, graceSeconds: config.shutdownGraceMs / 1000 }, 'stopping');
      setTimeout(() => force(`still stopping ${(config.shutdownGraceMs + CLEANUP_MARGIN_MS) / 1000} s after ${signal}`), config.shutdownGraceMs + CLEANUP_MARGIN_MS).unref();
      sandrun.close().then(
        () => process.exit(forcing ? FORCED_EXIT_CODE : 0),
        (error: unknown) => {
          logger.error({ err: error }, 'stopping failed');
          force(`stopping failed: ${errorMessage(error)}`);
        },
      );
    } else if (signals === 2) {
      logger.warn({ signal, hint: 'running runs get their grace period; a third signal forces the exit' }, 'still stopping');
    } else {
      force(`a third stop signal (${signal})`);
    }
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
