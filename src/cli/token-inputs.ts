// Parsers for `tokens create`'s option values (--scopes, --expires), as zod schemas: that command opens the database
// and loads the server's stores anyway, so zod costs it nothing noticeable (the HTTP commands' parsers are in inputs.ts).
import { z } from 'zod';
import { SCOPES, type Scope } from '../auth/principal.ts';
import { describeZodIssues } from '../errors.ts';
import { usageError } from './cli-error.ts';

const scopesSchema = z
  .string()
  .transform((text) => text.split(',').map((scope) => scope.trim()).filter(Boolean))
  .pipe(
    z
      .array(z.enum(SCOPES, { error: (issue) => `unknown scope '${String(issue.input)}'; the scopes are ${SCOPES.join(', ')}` }))
      .min(1, { error: `at least one scope is required; the scopes are ${SCOPES.join(', ')}` }),
  );

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000 } as const;
const expiresSchema = z
  .string()
  .regex(/^[1-9][0-9]*[dhm]$/, { error: 'must be a number followed by d (days), h (hours) or m (minutes), e.g. 30d' })
  .transform((text) => Number(text.slice(0, -1)) * UNIT_MS[text.slice(-1) as keyof typeof UNIT_MS]);

function parseWith<T>(schema: z.ZodType<T>, input: unknown, option: string): T {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw usageError(`${option}: ${describeZodIssues(parsed.error.issues)}`);
  return parsed.data;
}

export const parseScopes = (text: string): Scope[] => parseWith(scopesSchema, text, '--scopes');

/** `30d`, `12h`, `15m` from now. */
export const parseExpiry = (text: string, now: Date = new Date()): Date => new Date(now.getTime() + parseWith(expiresSchema, text, '--expires'));
