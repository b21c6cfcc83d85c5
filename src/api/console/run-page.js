// A run's page: status and timings, live logs over SSE, outputs as charts (numeric series) and formatted JSON, and the request that reproduces it.
import { ApiError } from './api.js';
import { outputCharts } from './charts.js';
import { TERMINAL, h, render, shellQuote, statusBadge, when } from './dom.js';
import { artifactsSection } from './artifacts-view.js';

function timings(run) {
  const rows = [
    ['Status', statusBadge(run.status)],
    ['Exit code', run.exit_code ?? '—'],
    ['Project', run.project],
    ['Model', run.model_name ?? '(whole project)'],
    ['Commit', h('code', {}, run.commit_sha)],
    ['Created', when(run.created_at)],
    ['Started', when(run.started_at)],
    ['Finished', when(run.finished_at)],
    ['Duration', TERMINAL.has(run.status) ? `${run.duration_seconds.toFixed(3)} s` : '…'],
  ];
  // What its connections through the egress proxy moved (SPEC §11), one destination a line.
  if (run.egress?.length) rows.push(['Network', h('ul', { class: 'models', id: 'run-egress' }, run.egress.map((moved) => h('li', {}, h('code', {}, `${moved.host}:${moved.port}`), ` ${moved.bytes_out} bytes out, ${moved.bytes_in} bytes in`)))]);
  if (run.error) rows.push(['Error', h('span', { class: 'error' }, `${run.error.code}: ${run.error.message}`)]);
  if (run.warning) rows.push(['Warning', run.warning]);
  return h('dl', { class: 'timings', id: 'run-timings' }, rows.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value)]));
}

function reproduce(body) {
  const origin = location.origin;
  const curl = `curl -sS -X POST ${origin}/v1/runs -H "Authorization: Bearer $SANDRUN_TOKEN" -H 'content-type: application/json' \\\n  -d ${shellQuote(JSON.stringify(body))}`;
  const mcp = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'run', arguments: body } }, null, 2);
  return [
    h('h2', {}, 'Reproduce'),
    h('p', { class: 'help' }, 'The same request, pinned to this commit: over REST with curl, or as an MCP tools/call to POST /mcp.'),
    h('pre', { id: 'reproduce-curl', 'aria-label': 'curl command' }, curl),
    h('pre', { id: 'reproduce-mcp', 'aria-label': 'MCP request' }, mcp),
  ];
}

export async function runPage(view, runId, { api, followLogs, signal }) {
  const path = `/v1/runs/${encodeURIComponent(runId)}`;
  let run = await api('GET', path);
  const request = await api('GET', `${path}/request`);
  const stdout = h('pre', { id: 'stdout', 'aria-label': 'stdout', tabindex: '0' });
  const stderr = h('pre', { id: 'stderr', class: 'stderr', 'aria-label': 'stderr', tabindex: '0' });
  const outputs = h('pre', { id: 'outputs', 'aria-label': 'outputs', tabindex: '0' });
  const charts = h('div', { id: 'output-charts' });
  const summary = h('div', { id: 'run-summary', 'aria-live': 'polite' });
  const cancel = h('button', { type: 'button', class: 'secondary', id: 'cancel-run' }, 'Cancel run');
  const artifacts = artifactsSection(runId);
  const show = (current) => {
    run = current;
    artifacts.update(current, TERMINAL.has(current.status));
    summary.replaceChildren(timings(current));
    outputs.textContent = TERMINAL.has(current.status) ? JSON.stringify(current.outputs, null, 2) : '(when the run ends)';
    // The charts come with the JSON, not instead of it: the exact numbers stay readable and copyable.
    charts.replaceChildren(...(TERMINAL.has(current.status) ? outputCharts(current.outputs, charts.clientWidth) : []));
    cancel.hidden = TERMINAL.has(current.status);
  };
  cancel.addEventListener('click', () => {
    api('POST', `${path}/cancel`).then(show, (error) => summary.append(h('p', { class: 'error', role: 'alert' }, error.message)));
  });
  render(view, `Run #${run.run_number} · ${run.project}${run.model_name ? ` / ${run.model_name}` : ''}`,
    summary, cancel,
    h('h2', {}, 'stdout'), stdout,
    h('h2', {}, 'stderr'), stderr,
    h('h2', {}, 'Outputs'), charts, outputs,
    artifacts.element,
    ...reproduce(request));
  show(run);
  // A finished run's stream replays its logs and ends; a live one streams until the run ends.
  try {
    await followLogs(runId, (event, data) => {
      if (event === 'stdout') stdout.textContent += data.text;
      else if (event === 'stderr') stderr.textContent += data.text;
      else if (event === 'end' || event === 'status') show(data);
    }, signal);
  } catch (error) {
    if (signal.aborted) return;
    if (!(error instanceof ApiError)) throw error;
    summary.append(h('p', { class: 'error', role: 'alert' }, error.message));
  }
  if (!signal.aborted && !TERMINAL.has(run.status)) show(await api('GET', path));
  if (!stdout.textContent) stdout.textContent = '(nothing)';
  if (!stderr.textContent) stderr.textContent = '(nothing)';
}
