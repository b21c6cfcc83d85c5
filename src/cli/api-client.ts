// The CLI's HTTP client of the REST API: bearer token, JSON in and out, error bodies turned into ApiError.
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { z } from 'zod';
import { errorMessage } from '../errors.ts';
import { ApiError, CliError, EXIT } from './cli-error.ts';
import type { ClientSettings } from './client-settings.ts';
import { readServerSentEvents, type ServerSentEvent } from './sse-stream.ts';

const errorBodySchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

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

  /** The events of an SSE endpoint as they arrive. */
  async *events(path: string): AsyncGenerator<ServerSentEvent> {
    const response = await this.send('GET', path, undefined, 'text/event-stream');
    if ((response.statusCode ?? 500) >= 400) throw this.apiError(response.statusCode ?? 500, parseJson(await readText(response)));
    yield* readServerSentEvents(response);
  }

  private apiError(status: number, body: unknown): ApiError {
    const parsed = errorBodySchema.safeParse(body);
    if (parsed.success) return new ApiError(status, parsed.data.error.code, parsed.data.error.message, body);
    return new ApiError(status, `http_${status}`, typeof body === 'string' && body ? body.slice(0, 500) : 'the server answered without an error body', body);
  }

  // node:http rather than fetch: a sync run may take up to an hour before the first byte of the answer,
  // longer than fetch's fixed 300 s header timeout.
  private send(method: string, path: string, body: string | undefined, accept = 'application/json'): Promise<IncomingMessage> {
    const url = new URL(this.settings.baseUrl + path);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
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
