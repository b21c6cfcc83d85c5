// Parsers for the option values of the CLI's HTTP commands (--param, --params-json, --limit, --status), by hand:
// these commands do not load zod, whose import alone takes longer than the rest of such a command (docs/decisions.md).
// The server validates the request again with its own schemas; these only turn a typo into a usage error before it is sent.
import { RUN_STATUSES, type RunStatus } from '../run-status.ts';
import { usageError } from './cli-error.ts';

/** `k=v`: the value as JSON when it parses (0.08, true, [1,2], {"a":1}, "quoted"), else the text as it is. */
function parseParam(text: string): [string, unknown] {
  const at = text.indexOf('=');
  if (at < 1) throw usageError(`--param ${text}: must be key=value`);
  const raw = text.slice(at + 1);
  try {
    return [text.slice(0, at), JSON.parse(raw)];
  } catch {
    return [text.slice(0, at), raw];
  }
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
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw usageError(`--params-json: must be a JSON object (got ${Array.isArray(json) ? 'an array' : json === null ? 'null' : typeof json})`);
    parameters = { ...(json as Record<string, unknown>) };
  }
  for (const param of params) {
    const [key, value] = parseParam(param);
    parameters[key] = value;
  }
  return parameters;
}

/** The server's bound on a page of runs (src/api/routes/runs.ts). */
const MAX_LIST_LIMIT = 200;

export function parseLimit(text: string): number {
  const limit = Number(text);
  if (text.trim() === '' || !Number.isInteger(limit) || limit < 1 || limit > MAX_LIST_LIMIT) throw usageError(`--limit: must be a whole number from 1 to ${MAX_LIST_LIMIT} (got '${text}')`);
  return limit;
}

export function parseStatus(text: string): RunStatus {
  const status = RUN_STATUSES.find((known) => known === text);
  if (!status) throw usageError(`--status: must be one of ${RUN_STATUSES.join(', ')} (got '${text}')`);
  return status;
}
