// The error shape of every failed request: { error: { code, message, details } } with the matching status.
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { withoutExcerpt } from '../json-excerpt.ts';
import { SandrunError, errorMessage } from '../errors.ts';

/** What express's router and body-parser raise (http-errors): a client error carries a 4xx status and `expose`. */
interface HttpLibraryError {
  type?: string;
  status?: number;
  expose?: boolean;
}

export function toSandrunError(error: unknown): SandrunError {
  if (error instanceof SandrunError) return error;
  const libraryError = (typeof error === 'object' && error !== null ? error : {}) as HttpLibraryError;
  if (libraryError.type === 'entity.too.large') return new SandrunError('payload_too_large', 'the request body is too large');
  if (libraryError.type === 'entity.parse.failed') return new SandrunError('invalid_request', `the request body is not valid JSON: ${withoutExcerpt(errorMessage(error))}`);
  // The router decodes path parameters and raises URIError (status 400) on a malformed escape such as %ZZ.
  if (error instanceof URIError) return new SandrunError('invalid_request', `the path is not valid: ${errorMessage(error)} (malformed percent-encoding)`);
  // Any other client error of those libraries (an unsupported charset or encoding, a body shorter than its
  // Content-Length, an aborted upload) is the caller's, not the server's.
  if (typeof libraryError.status === 'number' && libraryError.status >= 400 && libraryError.status < 500 && libraryError.expose === true) {
    return new SandrunError('invalid_request', `the request is not valid: ${errorMessage(error)}`);
  }
  return new SandrunError('internal', 'internal error', undefined, { cause: error });
}

/**
 * RFC 6750 §3: a request without credentials gets a bare challenge (no error code); a bad credential gets
 * invalid_token, a missing scope insufficient_scope.
 */
function authenticateChallenge(failure: SandrunError, sentCredentials: boolean): string | undefined {
  const description = `error_description="${failure.message.replace(/["\\]/g, "'").replace(/[^\x20-\x7e]/g, ' ')}"`;
  if (failure.code === 'unauthorized') return sentCredentials ? `Bearer realm="sandrun", error="invalid_token", ${description}` : 'Bearer realm="sandrun"';
  if (failure.code === 'forbidden' && typeof failure.details === 'object' && failure.details !== null && 'scope' in failure.details) {
    return `Bearer realm="sandrun", error="insufficient_scope", scope="${String(failure.details.scope)}", ${description}`;
  }
  return undefined;
}

/** What a client waiting on a full queue should wait before it tries again: runs take seconds, not minutes. */
const QUEUE_FULL_RETRY_SECONDS = 5;

/**
 * Every 429 says when to come back (RFC 9110 Retry-After, whole seconds): the rate limiter's own figure, the time
 * until a quota resets, or a short wait for a full queue.
 */
export function retryAfterSeconds(failure: SandrunError): number | undefined {
  if (failure.status !== 429) return undefined;
  const details = (typeof failure.details === 'object' && failure.details !== null ? failure.details : {}) as Record<string, unknown>;
  if (typeof details.retry_after_seconds === 'number') return Math.max(1, Math.ceil(details.retry_after_seconds));
  if (typeof details.resets_at === 'string') return Math.max(1, Math.ceil((Date.parse(details.resets_at) - Date.now()) / 1000));
  return QUEUE_FULL_RETRY_SECONDS;
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, request, response, _next) => {
    const failure = toSandrunError(error);
    request.audit = { ...request.audit, errorCode: failure.code };
    if (failure.code === 'internal') (request.log ?? logger).error({ err: error, requestId: request.id }, 'request failed');
    const challenge = authenticateChallenge(failure, /^Bearer\s/i.test(request.headers.authorization ?? ''));
    if (challenge) response.setHeader('WWW-Authenticate', challenge);
    const retryAfter = retryAfterSeconds(failure);
    if (retryAfter !== undefined && !response.headersSent) response.setHeader('Retry-After', String(retryAfter));
    if (response.headersSent) {
      response.end();
      return;
    }
    response.status(failure.status).json({ error: { code: failure.code, message: failure.message, details: failure.details ?? null } });
  };
}

export const notFoundHandler: RequestHandler = (request, _response, next) => {
  next(new SandrunError('not_found', `no route for ${request.method} ${request.path}`));
};
