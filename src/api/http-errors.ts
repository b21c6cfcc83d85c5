// The error shape of every failed request: { error: { code, message, details } } with the matching status.
import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { SandrunError, errorMessage } from '../errors.ts';

interface BodyParserError {
  type?: string;
  status?: number;
}

export function toSandrunError(error: unknown): SandrunError {
  if (error instanceof SandrunError) return error;
  const parserError = error as BodyParserError;
  if (parserError?.type === 'entity.too.large') return new SandrunError('payload_too_large', 'the request body is too large');
  if (parserError?.type === 'entity.parse.failed') return new SandrunError('invalid_request', `the request body is not valid JSON: ${errorMessage(error)}`);
  if (parserError?.type === 'encoding.unsupported' || parserError?.type === 'charset.unsupported') {
    return new SandrunError('invalid_request', errorMessage(error));
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
