// The CLI's HTTP client of the REST API: bearer token, JSON in and out, error bodies turned into ApiError.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { errorMessage } from '../errors.ts';
import { ApiError, CliError, EXIT } from './cli-error.ts';
import { clientSettings, type ClientSettings } from './client-settings.ts';
import type { CliContext, HttpFlags } from './context.ts';
import { readServerSentEvents, type ServerSentEvent } from './sse-stream.ts';

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;

/** `{ error: { code, message } }`, checked by hand: the CLI's remote commands do not load zod (docs/decisions.md). */
function errorBody(body: unknown): { code: string; message: string } | undefined {
  const error = isObject(body) ? body.error : undefined;
  return isObject(error) && typeof error.code === 'string' && typeof error.message === 'string' ? { code: error.code, message: error.message } : undefined;
}

async function readText(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): unknown {
  try {
    return text ? JSON.parse(text) : null;
  } catch {
    return text;
  }
}

export class ApiClient {
  constructor(private readonly settings: ClientSettings) {}

  /**
   * The server's JSON for a request. The caller names the shape with the server's own view types
   * (src/runs/run-view.ts, src/projects/project-service.ts): CLI and server ship from one checkout.
   */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.send(method, path, body === undefined ? undefined : JSON.stringify(body));
    const parsed = parseJson(await readText(response));
    if ((response.statusCode ?? 500) >= 400) throw this.apiError(response.statusCode ?? 500, parsed);
    return parsed as T;
  }

  /** The body of a file endpoint as it arrives (an artifact): the caller reads it to its end. */
  async download(path: string): Promise<IncomingMessage> {
    const response = await this.send('GET', path, undefined, '*/*');
    if ((response.statusCode ?? 500) >= 400) throw this.apiError(response.statusCode ?? 500, parseJson(await readText(response)));
    return response;
  }

  /** The events of an SSE endpoint as they arrive. */
  async *events(path: string): AsyncGenerator<ServerSentEvent> {
    const response = await this.send('GET', path, undefined, 'text/event-stream');
    if ((response.statusCode ?? 500) >= 400) throw this.apiError(response.statusCode ?? 500, parseJson(await readText(response)));
    yield* readServerSentEvents(response);
  }

  /**
   * An endpoint that streams events while there is something to follow and answers JSON otherwise (a project's
   * environment log): which one it did, by the answer's Content-Type.
   */
  async eventsOrJson(path: string): Promise<{ kind: 'events'; events: AsyncGenerator<ServerSentEvent> } | { kind: 'json'; body: unknown }> {
    const response = await this.send('GET', path, undefined, 'text/event-stream, application/json');
    if ((response.statusCode ?? 500) >= 400) throw this.apiError(response.statusCode ?? 500, parseJson(await readText(response)));
    if (String(response.headers['content-type']).startsWith('text/event-stream')) return { kind: 'events', events: readServerSentEvents(response) };
    return { kind: 'json', body: parseJson(await readText(response)) };
  }

  private apiError(status: number, body: unknown): ApiError {
    const error = errorBody(body);
    if (error) return new ApiError(status, error.code, error.message, body);
    return new ApiError(status, `http_${status}`, typeof body === 'string' && body ? body.slice(0, 500) : 'the server answered without an error body', body);
  }

  // node:http rather than fetch: a sync run may take up to an hour before the first byte of the answer,
  // longer than fetch's fixed 300 s header timeout.
  private async send(method: string, path: string, body: string | undefined, accept = 'application/json'): Promise<IncomingMessage> {
    const url = new URL(this.settings.baseUrl + path);
    // node:https (and TLS) only for an https server: loading it costs a plain-http command ~4 ms.
    const request = url.protocol === 'https:' ? (await import('node:https')).request : httpRequest;
    return new Promise((resolve, reject) => {
      const outgoing = request(url, {
        method,
        headers: {
          authorization: `Bearer ${this.settings.token}`,
          accept,
          ...(body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }),
        },
      });
      outgoing.on('response', resolve);
      outgoing.on('error', (error) => {
        reject(new CliError(`cannot reach sandrun at ${this.settings.baseUrl}: ${errorMessage(error)} (is the server running? SANDRUN_URL sets where it is)`, EXIT.api));
      });
      outgoing.end(body);
    });
  }
}

/** The client for a command's --token (else SANDRUN_TOKEN) and the server SANDRUN_URL names. */
export const apiClient = (context: CliContext, flags: HttpFlags): ApiClient => new ApiClient(clientSettings(context.env, flags));
