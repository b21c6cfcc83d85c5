// The one error type of sandrun: a stable code, an HTTP status and a message a user can act on.
import type { z } from 'zod';

export type ErrorCode =
  | 'invalid_request'
  | 'unauthorized'
  | 'auth_unavailable'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'payload_too_large'
  | 'manifest_invalid'
  | 'rate_limited'
  | 'queue_full'
  | 'quota_exceeded'
  | 'disk_full'
  | 'engine_unavailable'
  | 'image_unavailable'
  | 'git_failed'
  | 'repo_too_large'
  | 'environment_failed'
  | 'egress_denied'
  | 'destination_refused'
  | 'internal';

export const STATUS_OF: Record<ErrorCode, number> = {
  invalid_request: 400,
  unauthorized: 401,
  auth_unavailable: 503,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  manifest_invalid: 422,
  rate_limited: 429,
  queue_full: 429,
  quota_exceeded: 429,
  disk_full: 503,
  engine_unavailable: 503,
  image_unavailable: 422,
  git_failed: 422,
  repo_too_large: 422,
  environment_failed: 422,
  egress_denied: 422,
  destination_refused: 422,
  internal: 500,
};

export class SandrunError extends Error {
  readonly status: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SandrunError';
    this.status = STATUS_OF[code];
  }
}

/** Turns zod issues into one message that names each field and its rule ("model_name: Required"). */
export function describeZodIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((issue) => {
      const path = issue.path.map(String).join('.');
      // Messages written for one field already name it ("model_name is required when scope='model'").
      return path && !issue.message.startsWith(path) ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}

export function invalidRequest(issues: readonly z.core.$ZodIssue[]): SandrunError {
  return new SandrunError('invalid_request', describeZodIssues(issues), {
    issues: issues.map((issue) => ({ path: issue.path.map(String).join('.'), message: issue.message })),
  });
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
