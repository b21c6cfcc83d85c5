// Gives every request to an engine a deadline on the engine's answer: a wedged engine fails the call instead of hanging it.
//
// One rule at the one place every dockerode request goes through (its modem's dial), so that no call site can
// forget it: a backend wraps each client it is given or makes (docs/decisions.md, "A deadline on every engine call").
import type Dockerode from 'dockerode';
import { modemOf, type DialOptions, type Modem } from './engine-dial.ts';
import { engineDeadlineError } from './engine-errors.ts';

type DeadlineModem = Modem & { [DEADLINE_MS]?: number };

const DEADLINE_MS = Symbol('sandrun.engineDeadlineMs');
const CONTAINER_WAIT = /^\/containers\/[^/?]+\/wait(\?|$)/;

/**
 * Requests whose answer may rightly come late, left to their caller's own bound: a container's wait answers at its
 * exit (bounded by the run's clock), an upload only after its whole body (bounded by the caller). Every other request
 * is answered at once by a working engine; for a stream (attach, exec start, logs, events) the answer is its start,
 * and the stream then lasts as long as it needs.
 */
export function answersLate(options: Pick<DialOptions, 'path' | 'file'>): boolean {
  return options.file !== undefined || CONTAINER_WAIT.test(options.path);
}

/**
 * Makes every request of this client that does not answer late fail with engine_unavailable, naming the request,
 * when the engine has not answered within `timeoutMs`. A caller's own abortSignal still works (whichever comes
 * first). Idempotent: wrapping again only sets the deadline.
 */
export function withEngineDeadline(docker: Dockerode, timeoutMs: number): Dockerode {
  const modem = modemOf(docker) as DeadlineModem;
  const wrapped = modem[DEADLINE_MS] !== undefined;
  modem[DEADLINE_MS] = timeoutMs;
  if (wrapped) return docker;
  const dial = modem.dial.bind(modem);
  modem.dial = (options, callback) => {
    if (answersLate(options)) return dial(options, callback);
    const deadlineMs = modem[DEADLINE_MS]!;
    const { method, path } = options; // dial prefixes the API version to options.path
    const callerSignal = options.abortSignal;
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), deadlineMs);
    timer.unref();
    options.abortSignal = callerSignal ? AbortSignal.any([callerSignal, deadline.signal]) : deadline.signal;
    dial(options, (error, result) => {
      clearTimeout(timer); // answered: a stream goes on for as long as it needs
      if (error !== null && error !== undefined && deadline.signal.aborted && !callerSignal?.aborted) {
        return callback(engineDeadlineError(method, path.replace(/\?.*$/, ''), deadlineMs, error));
      }
      callback(error, result);
    });
  };
  return docker;
}

/** The deadline this client's requests have, if it was wrapped. */
export function engineDeadlineOf(docker: Dockerode): number | undefined {
  return (modemOf(docker) as DeadlineModem)[DEADLINE_MS];
}
