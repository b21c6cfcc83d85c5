// The request id: the caller's X-Request-Id when it is sane, else a fresh UUID; echoed on the response.
import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import './express-types.ts';

const REQUEST_ID = /^[\w.-]{1,128}$/;

export function requestIdOf(incoming: string | string[] | undefined): string {
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

export const assignRequestId: RequestHandler = (request, response, next) => {
  request.id = requestIdOf(request.headers['x-request-id']);
  response.setHeader('X-Request-Id', request.id);
  next();
};
