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

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (error: unknown, request, response, _next) => {
    const failure = toSandrunError(error);
    if (failure.code === 'internal') logger.error({ err: error, requestId: request.id }, 'request failed');
    if (failure.code === 'unauthorized') response.setHeader('WWW-Authenticate', `Bearer error="invalid_token", error_description="${failure.message.replace(/"/g, "'")}"`);
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
