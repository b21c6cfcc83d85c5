// SANDRUN_HOST and SANDRUN_PORT: where the server listens, and where the CLI on the same host finds it. Plain functions, not
// zod: config.ts applies them in its schema, and the CLI's HTTP commands, which do not load zod (docs/decisions.md), directly.
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PORT = 8080;

export const HOST_RULE = 'must be a host name or address, not empty';
export const PORT_RULE = 'must be a whole number from 0 to 65535';

/** The host SANDRUN_HOST names, or undefined when it names none. */
export const parseHost = (text: string): string | undefined => (text.length > 0 ? text : undefined);

/** The port SANDRUN_PORT names (0: any free port), or undefined when it names none. */
export function parsePort(text: string): number | undefined {
  const port = Number(text);
  return text.trim() !== '' && Number.isInteger(port) && port >= 0 && port <= 65535 ? port : undefined;
}
