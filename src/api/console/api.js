// The console's calls to the REST API: a bearer token from sessionStorage, JSON, and SSE read through fetch streaming.
const TOKEN_KEY = 'sandrun.token';

export const token = {
  get: () => sessionStorage.getItem(TOKEN_KEY),
  set: (value) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** A JSON request with the bearer token; throws ApiError with the server's message on a non-2xx answer. */
export async function api(method, path, body) {
  const headers = { authorization: `Bearer ${token.get() ?? ''}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!response.ok) {
    const error = parsed && parsed.error ? parsed.error : { code: 'http_' + response.status, message: text || response.statusText };
    throw new ApiError(response.status, error.code, error.message);
  }
  return parsed;
}

/**
 * Follows a run's logs (EventSource cannot send an Authorization header, so this reads the SSE stream with fetch).
 * onEvent(name, data) for each event; resolves when the stream ends; abort with the signal.
 */
export async function followLogs(runId, onEvent, signal) {
  const response = await fetch(`/v1/runs/${encodeURIComponent(runId)}/logs?follow=1`, {
    headers: { authorization: `Bearer ${token.get() ?? ''}`, accept: 'text/event-stream' },
    signal,
  });
  if (!response.ok || !response.body) throw new ApiError(response.status, 'logs_unavailable', `logs: HTTP ${response.status}`);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let boundary;
    while ((boundary = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, boundary);
      buffer = buffer.slice(boundary + 2);
      let name = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) name = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
      }
      if (data.length > 0) onEvent(name, JSON.parse(data.join('\n')));
    }
  }
}
