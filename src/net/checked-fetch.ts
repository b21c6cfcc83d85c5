// One HTTP(S) request from the server to a URL it was given (JWKS, webhooks): destination policy first, pinned addresses, no redirects, bounded.
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import { SandrunError, type ErrorCode } from '../errors.ts';
import type { CheckedAddress, DestinationPolicy } from './destination-policy.ts';

export interface CheckedFetchOptions {
  /** Names the URL's origin in a refusal ("SANDRUN_JWT_JWKS_URL"). */
  field: string;
  /** What the caller was doing, to start each failure's message ("fetching the issuer's JWKS"). */
  attempt: string;
  /** The code of the SandrunError every failure becomes. */
  failureCode: ErrorCode;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  /** A longer answer is a failure: a remote cannot make the server buffer without bound. */
  maxBytes: number;
  /** Past maxBytes, keep the first maxBytes and stop reading instead of failing (an answer whose body hardly matters). */
  truncate?: boolean;
}

export interface CheckedResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Answers every lookup with the addresses the policy checked: the socket cannot reach an address resolved later. */
function pinnedLookup(addresses: readonly CheckedAddress[]): LookupFunction {
  return (_hostname, options, callback) => {
    if (options.all) callback(null, addresses.map((entry) => ({ address: entry.address, family: entry.family })));
    else callback(null, addresses[0]!.address, addresses[0]!.family);
  };
}

/**
 * Sends one request (http: or https:) and reads the whole answer. A 3xx is returned as it is, never followed. Every
 * failure is a SandrunError of `failureCode` whose message says what went wrong in sandrun's words.
 */
export async function fetchChecked(policy: DestinationPolicy, url: URL, options: CheckedFetchOptions): Promise<CheckedResponse> {
  const fail = (reason: string, cause?: unknown) => new SandrunError(options.failureCode, `${options.attempt}: ${reason}`, undefined, { cause });
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw fail(`${url.protocol} URLs are not fetched; use https://`);
  let addresses: CheckedAddress[];
  try {
    addresses = await policy.resolve(url.hostname, options.field);
  } catch (error) {
    throw fail(error instanceof SandrunError ? error.message : `could not resolve ${url.hostname}`, error);
  }
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise<CheckedResponse>((resolve, reject) => {
    const request = send(url, { method: options.method ?? 'GET', headers: options.headers, lookup: pinnedLookup(addresses), signal: options.signal }, (response) => {
      const chunks: Buffer[] = [];
      let length = 0;
      response.on('data', (chunk: Buffer) => {
        length += chunk.length;
        if (length > options.maxBytes) {
          if (options.truncate) {
            chunks.push(chunk.subarray(0, chunk.length - (length - options.maxBytes)));
            resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) });
          } else {
            reject(fail(`the answer is larger than ${options.maxBytes} bytes`));
          }
          request.destroy();
          return;
        }
        chunks.push(chunk);
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) }));
      response.on('error', (error) => reject(fail('the connection broke while reading the answer', error)));
    });
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (options.signal?.aborted) reject(fail('no answer in time', error));
      else reject(fail(`could not connect (${error.code ?? 'connection failed'})`, error));
    });
    request.end(options.body);
  });
}
