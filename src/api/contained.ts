// Event listeners and callbacks on a request path, made unable to throw: an exception raised out of an emitter ends the whole process (every tenant's runs with it).
import type { Logger } from 'pino';

/**
 * The listener, wrapped so that whatever it throws is logged as an error instead of escaping into the emitter
 * (a 'finish' or 'close' listener that throws is an uncaught exception, and Node exits on those). `logger` may be a
 * function, so that a request's own logger is made only when something is logged.
 */
export function contained<Args extends unknown[]>(logger: Logger | (() => Logger), what: string, listener: (...args: Args) => void): (...args: Args) => void {
  return (...args) => {
    try {
      listener(...args);
    } catch (error) {
      (typeof logger === 'function' ? logger() : logger).error({ err: error }, `${what} failed`);
    }
  };
}
