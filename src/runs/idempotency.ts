// Idempotent submission: the key's rules and window, and the hash that tells "the same request" from "another body".
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { SandrunError } from '../errors.ts';
import type { RunRequest } from './run-request.ts';
import { canonicalJson } from '../canonical-json.ts';

export const IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60 * 1000;

export const idempotencyKeySchema = z
  .string({ error: 'idempotency key must be a string' })
  .min(1, { error: 'idempotency key must not be empty' })
  .max(255, { error: 'idempotency key must be at most 255 characters' })
  .regex(/^[\x21-\x7e]+$/, { error: 'idempotency key must be printable ASCII without spaces' });

/**
 * SHA-256 of the request with its defaults filled in (absent and null are the same) and object keys sorted,
 * so a retry that spells the same request differently is still the same request; a replay's names its original.
 */
export function requestHash(request: RunRequest, replayOf: string | null = null): string {
  const canonical = {
    // Only a replay has it: the hashes of other requests stay what they were before replays existed.
    replay_of: replayOf ?? undefined,
    scope: request.scope,
    mode: request.mode,
    project_name: request.project_name,
    model_name: request.model_name ?? null,
    branch: request.branch ?? null,
    commit_sha: request.commit_sha?.toLowerCase() ?? null,
    parameters: request.parameters ?? {},
  };
  return createHash('sha256').update(canonicalJson(canonical)).digest('hex');
}

/** The key as given (header or tool argument), or 400 naming the rule. */
export function parseIdempotencyKey(input: string): string {
  const parsed = idempotencyKeySchema.safeParse(input);
  if (!parsed.success) throw new SandrunError('invalid_request', parsed.error.issues.map((issue) => issue.message).join('; '));
  return parsed.data;
}
