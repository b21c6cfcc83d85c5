// One client for the swarm's managers: a request whose manager cannot be reached goes to the next manager that answers.
//
// One rule at the one place every dockerode request goes through (its modem's dial), as engine-deadline.ts does, so no
// call site can forget it. A request is sent again only where sending it twice cannot do anything twice.
import Dockerode from 'dockerode';
import { SandrunError, errorMessage } from '../../errors.ts';
import { modemOf, type DialOptions } from '../engine-dial.ts';
import { EngineDeadlineError } from '../engine-errors.ts';

/** The connection was never made: the request certainly did not reach that engine. */
const NOT_REACHED = new Set(['ECONNREFUSED', 'ENOENT', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);
/** The connection broke, or the engine went silent past its deadline: it may have acted. */
const LOST = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT']);
const LOST_TEXT = /socket hang up/i;
/** Requests that do the same once or twice (HTTP's idempotent methods): a second manager may take them whatever happened. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'DELETE']);

function failureCode(error: unknown): string {
  return (error as { code?: string } | undefined)?.code ?? '';
}

/** Whether `error` of a request sent as `options` lets the next manager be asked. */
export function mayFailOver(options: Pick<DialOptions, 'method' | 'file'>, error: unknown): boolean {
  if (options.file !== undefined) return false;
  if (NOT_REACHED.has(failureCode(error))) return true;
  if (!IDEMPOTENT.has(options.method)) return false;
  if (error instanceof EngineDeadlineError) return true;
  if (error instanceof SandrunError) return false;
  return LOST.has(failureCode(error)) || LOST_TEXT.test(errorMessage(error));
}

/**
 * A client whose every request goes to the manager that answered last, and on a connection failure that allows it
 * (mayFailOver) to each other manager in turn. `managers` are clients of each manager's engine, in the order of
 * `hosts` (each with its own deadline, engine-deadline.ts). A request no manager took fails with engine_unavailable
 * naming each manager's failure; with one manager, its failure as it came.
 */
export function failoverClient(hosts: string[], managers: Dockerode[]): Dockerode {
  if (managers.length === 1) return managers[0]!;
  const client = new Dockerode(); // its own modem's settings are never used: every dial goes to one of `managers`
  let current = 0;
  modemOf(client).dial = (options, callback) => {
    // dial rewrites what it is given (the API version into the path, the query's abort signal out): each try gets a copy.
    const copy = (): DialOptions => ({ ...options, options: options.options ? { ...options.options } : undefined });
    const first = current;
    const failures: string[] = [];
    const attempt = (index: number) => {
      modemOf(managers[index]!).dial(copy(), (error, result) => {
        if (error === null || error === undefined) {
          current = index;
          return callback(error, result);
        }
        if (options.abortSignal?.aborted || !mayFailOver(options, error)) return callback(error);
        failures.push(`${hosts[index]}: ${[failureCode(error), errorMessage(error)].filter(Boolean).join(' ')}`);
        const next = (index + 1) % managers.length;
        if (next === first) {
          return callback(new SandrunError('engine_unavailable', `no swarm manager took ${options.method} ${options.path.replace(/\?.*$/, '')}: ${failures.join('; ')}`, undefined, { cause: error }));
        }
        attempt(next);
      });
    };
    attempt(first);
  };
  return client;
}
