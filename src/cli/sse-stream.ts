// Reads a Server-Sent Events byte stream into events as they arrive, and their JSON data.
import { StringDecoder } from 'node:string_decoder';
import { CliError, EXIT } from './cli-error.ts';

export interface ServerSentEvent {
  event: string;
  data: string;
}

function parseBlock(block: string): ServerSentEvent | undefined {
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  return data.length > 0 ? { event, data: data.join('\n') } : undefined;
}

export async function* readServerSentEvents(chunks: AsyncIterable<Buffer | string>): AsyncGenerator<ServerSentEvent> {
  const decoder = new StringDecoder('utf8');
  let buffered = '';
  for await (const chunk of chunks) {
    buffered += (typeof chunk === 'string' ? chunk : decoder.write(chunk)).replace(/\r\n?/g, '\n');
    let end = buffered.indexOf('\n\n');
    while (end !== -1) {
      const event = parseBlock(buffered.slice(0, end));
      buffered = buffered.slice(end + 2);
      if (event) yield event;
      end = buffered.indexOf('\n\n');
    }
  }
  const last = parseBlock(buffered + decoder.end());
  if (last) yield last;
}

/** An event's data: sandrun sends JSON in every event. */
export function eventData(event: ServerSentEvent): unknown {
  try {
    return JSON.parse(event.data);
  } catch {
    throw new CliError(`the server sent an event that is not JSON: ${event.data.slice(0, 200)}`, EXIT.api);
  }
}

/** A log event's text (`{text}`); checked by hand, as the CLI's HTTP commands do not load zod (docs/decisions.md). */
export function textOf(data: unknown): string | undefined {
  // Any JSON value: a primitive or null has no text either.
  const text = (data as { text?: unknown } | null)?.text;
  return typeof text === 'string' ? text : undefined;
}
