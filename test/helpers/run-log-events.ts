// A run's log as the server streams it without follow (SSE: what it has printed so far, then its end once it has one), for tests that wait on it.

/** The event stream's text; a refused request throws at once with its status, rather than wait out a caller's deadline. */
export async function runLogEvents(baseUrl: string, token: string, runId: string): Promise<string> {
  const response = await fetch(`${baseUrl}/v1/runs/${runId}/logs`, { headers: { authorization: `Bearer ${token}` } });
  const text = await response.text();
  if (!response.ok) throw new Error(`GET /v1/runs/${runId}/logs answered ${response.status}: ${text}`);
  return text;
}

/** The text of an event stream's stdout and stderr events, in order. */
export function printedText(events: string): string {
  return events
    .split('\n\n')
    .filter((event) => /^event: std(out|err)\n/.test(event))
    .map((event) => (JSON.parse(event.slice(event.indexOf('\ndata: ') + 7)) as { text: string }).text)
    .join('');
}
