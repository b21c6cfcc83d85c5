// V8's JSON.parse message quotes the text around the fault: text that may be a secret (a request body, a run's output).

/**
 * `Unexpected token 'h', ..."value": hunter2"... is not valid JSON` becomes `unexpected token`; messages that give only
 * a position are kept as they are.
 */
export function withoutExcerpt(message: string): string {
  return message.replace(/^Unexpected token .*? is not valid JSON$/s, 'unexpected token');
}
