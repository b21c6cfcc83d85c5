// Parsers for the CLI's option values (--param, --params-json, --scopes, --expires, --limit, --status), as zod schemas.
import { z } from 'zod';
import { SCOPES, type Scope } from '../auth/principal.ts';
import { describeZodIssues } from '../errors.ts';
import { RUN_STATUSES } from '../run-status.ts';
import { usageError } from './cli-error.ts';


const jsonObjectSchema = z.record(z.string(), z.unknown());

/** `k=v`: the value as JSON when it parses (0.08, true, [1,2], {"a":1}, "quoted"), else the text as it is. */
const paramSchema = z
  .string()
  .regex(/^[^=]+=/, { error: 'must be key=value' })
  .transform((text) => {
    const at = text.indexOf('=');
    const raw = text.slice(at + 1);
    let value: unknown = raw;
    try {
      value = JSON.parse(raw);
    } catch {
      // not JSON: the text itself is the value
    }
    return [text.slice(0, at), value] as const;
  });

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

const limitSchema = z.coerce.number().int().min(1).max(200, { error: 'must be at most 200' });
const statusSchema = z.enum(RUN_STATUSES, { error: `must be one of ${RUN_STATUSES.join(', ')}` });

function parseWith<T>(schema: z.ZodType<T>, input: unknown, option: string): T {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw usageError(`${option}: ${describeZodIssues(parsed.error.issues)}`);
  return parsed.data;
}

/** The run's parameters: --params-json first, then each --param on top of it. */
export function parseParameters(params: readonly string[], paramsJson: string | undefined): Record<string, unknown> {
  let parameters: Record<string, unknown> = {};
  if (paramsJson !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(paramsJson);
    } catch (error) {
      throw usageError(`--params-json: not valid JSON (${error instanceof Error ? error.message : String(error)})`);
    }
    parameters = { ...parseWith(jsonObjectSchema, json, '--params-json') };
  }
  for (const param of params) {
    const [key, value] = parseWith(paramSchema, param, `--param ${param}`);
    parameters[key] = value;
  }
  return parameters;
}

export const parseScopes = (text: string): Scope[] => parseWith(scopesSchema, text, '--scopes');

/** `30d`, `12h`, `15m` from now. */
export const parseExpiry = (text: string, now: Date = new Date()): Date => new Date(now.getTime() + parseWith(expiresSchema, text, '--expires'));

export const parseLimit = (text: string): number => parseWith(limitSchema, text, '--limit');

export const parseStatus = (text: string): (typeof RUN_STATUSES)[number] => parseWith(statusSchema, text, '--status');
