// Translates dockerode failures into SandrunErrors that say what was being attempted.
import { SandrunError, errorMessage } from '../errors.ts';

interface EngineFailure {
  statusCode?: number;
  code?: string;
  json?: { message?: string } | null;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'EACCES']);

/** What the engine says while it is stopping or restarting (its containerd connection going away). */
const ENGINE_GOING_AWAY = /socket hang up|connection is closing|context canceled|daemon is shutting down|transport is closing|connection refused/i;

/** The error's own message and the engine's JSON message, where dockerode keeps what the engine said. */
function failureText(error: unknown): string {
  return `${errorMessage(error)} ${(error as EngineFailure)?.json?.message ?? ''}`;
}

export function isEngineUnreachable(error: unknown): boolean {
  if (error instanceof SandrunError) return error.code === 'engine_unavailable';
  const failure = error as EngineFailure;
  return (failure?.code !== undefined && UNREACHABLE.has(failure.code)) || ENGINE_GOING_AWAY.test(failureText(error));
}

/** A request the engine did not answer within the server's deadline (engine-deadline.ts): as good as unreachable. */
export class EngineDeadlineError extends SandrunError {}

export function engineDeadlineError(method: string, path: string, timeoutMs: number, cause: unknown): EngineDeadlineError {
  return new EngineDeadlineError('engine_unavailable', `the engine did not answer ${method} ${path} within ${timeoutMs / 1000} s`, undefined, { cause });
}

export function isNotFound(error: unknown): boolean {
  return (error as EngineFailure)?.statusCode === 404;
}

/** The engine refused to reach into the container: it has stopped (409) or is gone (404). */
export function isContainerNotRunning(error: unknown): boolean {
  return isNotFound(error) || ((error as EngineFailure)?.statusCode === 409 && /not running|stopped/i.test(failureText(error)));
}

export function engineError(error: unknown, attempting: string): SandrunError {
  if (error instanceof SandrunError) return error;
  const message = (error as EngineFailure)?.json?.message ?? errorMessage(error);
  if (isEngineUnreachable(error)) {
    return new SandrunError('engine_unavailable', `the Docker engine did not answer while ${attempting}: ${message}`, undefined, { cause: error });
  }
  if (isNotFound(error) && /image/i.test(message)) {
    return new SandrunError('image_unavailable', `${attempting}: ${message} (build it with \`npm run images\`)`, undefined, { cause: error });
  }
  return new SandrunError('internal', `the Docker engine failed while ${attempting}: ${message}`, undefined, { cause: error });
}
