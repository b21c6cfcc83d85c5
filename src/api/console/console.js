// The console's pages (runs, a run, projects, new run) behind a hash router; each page stops its polling and streams when left.
import { ApiError, api, followLogs, token } from './api.js';
import { runsChart } from './charts.js';
import { TERMINAL, h, render, statusBadge, when } from './dom.js';
import { runPage } from './run-page.js';

const view = document.getElementById('view');
const login = document.getElementById('login');
const nav = document.getElementById('nav');
const RUNS_PAGE = 50;
const STATUSES = ['pending', 'running', 'success', 'failed', 'timed_out', 'cancelled', 'error'];
let leave = new AbortController();

function showError(error) {
  if (error instanceof ApiError && error.status === 401) return signOut('That token was refused: ' + error.message);
  if (error && error.name === 'AbortError') return;
  view.append(h('p', { class: 'error', role: 'alert' }, error instanceof Error ? error.message : String(error)));
}

function signOut(message = '') {
  token.clear();
  leave.abort();
  view.hidden = true;
  nav.hidden = true;
  login.hidden = false;
  document.getElementById('login-error').textContent = message;
  document.getElementById('token').focus();
}

async function projectNames() {
  const { projects } = await api('GET', '/v1/projects');
  return projects.map((project) => project.name);
}

async function runsPage(query, signal) {
  const project = query.get('project') ?? '';
  const status = query.get('status') ?? '';
  const names = await projectNames();
  const apply = () => {
    const next = new URLSearchParams();
    if (projectSelect.value) next.set('project', projectSelect.value);
    if (statusSelect.value) next.set('status', statusSelect.value);
    location.hash = `#/runs?${next}`;
  };
  const projectSelect = h('select', { id: 'filter-project', onchange: apply }, h('option', { value: '' }, 'all projects'), names.map((name) => h('option', { value: name, selected: name === project }, name)));
  const statusSelect = h('select', { id: 'filter-status', onchange: apply }, h('option', { value: '' }, 'any status'), STATUSES.map((value) => h('option', { value, selected: value === status }, value)));
  const body = h('tbody');
  const table = h('table', {}, h('caption', { class: 'help' }, 'Newest first; refreshed every 2 s while runs are live, every 10 s otherwise.'),
    h('thead', {}, h('tr', {}, ['Run', 'Project', 'Model', 'Status', 'Created', 'Duration'].map((label) => h('th', { scope: 'col' }, label)))), body);
  // A project's runs over time, drawn from the same page of runs as the table.
  const chart = project ? h('div', { class: 'runs-chart-box' }) : null;
  render(view, 'Runs',
    h('div', { class: 'filters' },
      h('div', {}, h('label', { for: 'filter-project' }, 'Project'), projectSelect),
      h('div', {}, h('label', { for: 'filter-status' }, 'Status'), statusSelect)),
    chart, table);
  const refresh = async () => {
    const params = new URLSearchParams({ limit: String(RUNS_PAGE) });
    if (project) params.set('project_name', project);
    if (status) params.set('status', status);
    const { runs } = await api('GET', `/v1/runs?${params}`);
    chart?.replaceChildren(runsChart(project, runs, RUNS_PAGE, chart.clientWidth));
    body.replaceChildren(...(runs.length === 0 ? [h('tr', {}, h('td', { colspan: '6', class: 'empty' }, 'No runs yet.'))] : runs.map((run) => h('tr', { 'data-run-id': run.run_id },
      h('td', {}, h('a', { href: `#/runs/${run.run_id}` }, `#${run.run_number}`)),
      h('td', {}, run.project),
      h('td', {}, run.model_name ?? '(project)'),
      h('td', {}, statusBadge(run.status)),
      h('td', {}, when(run.created_at)),
      h('td', {}, TERMINAL.has(run.status) ? `${run.duration_seconds.toFixed(2)} s` : '…')))));
    return runs.some((run) => !TERMINAL.has(run.status));
  };
  while (!signal.aborted) {
    const live = await refresh();
    await new Promise((resolve) => setTimeout(resolve, live ? 2000 : 10000));
  }
}

/** The default branch's environment (SPEC §9): its status, when it was built, or why it failed. */
function environmentCell(environment) {
  if (!environment || environment.status === 'none') return environment?.key ? 'declared, not built yet' : 'none';
  const badge = h('span', { class: `status status-${environment.status === 'ready' ? 'success' : environment.status === 'building' ? 'running' : 'failed'}` }, environment.status);
  if (environment.status === 'ready') return [badge, ' ', h('small', {}, when(environment.built_at))];
  if (environment.status === 'failed' && environment.error) return [badge, ' ', h('span', { class: 'error' }, environment.error)];
  return badge;
}

async function projectsPage() {
  const names = await projectNames();
  const details = await Promise.all(names.map((name) => api('GET', `/v1/projects/${encodeURIComponent(name)}`)));
  render(view, 'Projects', details.length === 0 ? h('p', { class: 'empty' }, 'No projects. Register one with sandrun projects add NAME REPO_URL.') : h('table', {},
    h('thead', {}, h('tr', {}, ['Project', 'Repository', 'Branch', 'Models', 'Environment', 'Secrets', 'Network', ''].map((label) => h('th', { scope: 'col' }, label)))),
    h('tbody', {}, details.map((project) => h('tr', {},
      h('td', {}, h('a', { href: `#/runs?project=${encodeURIComponent(project.name)}` }, project.name)),
      h('td', {}, h('code', {}, project.repo_url)),
      h('td', {}, project.default_branch),
      h('td', {}, project.manifest_error ? h('span', { class: 'error' }, project.manifest_error.message)
        : h('ul', { class: 'models' }, project.models.map((model) => h('li', {}, h('a', { href: `#/new?project=${encodeURIComponent(project.name)}&model=${encodeURIComponent(model)}` }, model))))),
      h('td', { class: 'environment' }, environmentCell(project.environment)),
      // Names only: the API never returns a secret's value.
      h('td', { class: 'secrets' }, project.secrets.length === 0 ? h('span', { class: 'empty' }, 'none') : h('ul', { class: 'models' }, project.secrets.map((secret) => h('li', {}, h('code', { title: `set ${secret.updated_at}` }, secret.key))))),
      h('td', { class: 'network' }, project.network.length === 0 ? h('span', { class: 'empty' }, 'none') : h('ul', { class: 'models' }, project.network.map((entry) => h('li', {}, h('code', {}, entry.destination), entry.granted ? '' : [' ', h('span', { class: 'error' }, 'not allowed')])))),
      h('td', {}, h('a', { href: `#/new?project=${encodeURIComponent(project.name)}` }, 'Start a run')))))));
}

async function newRunPage(query) {
  const names = await projectNames();
  const projectSelect = h('select', { id: 'run-project', name: 'project', required: true }, names.map((name) => h('option', { value: name, selected: name === query.get('project') }, name)));
  const modelSelect = h('select', { id: 'run-model', name: 'model' });
  const loadModels = async () => {
    if (!projectSelect.value) return;
    const project = await api('GET', `/v1/projects/${encodeURIComponent(projectSelect.value)}`);
    modelSelect.replaceChildren(h('option', { value: '' }, '(the whole project)'), ...project.models.map((model) => h('option', { value: model, selected: model === query.get('model') }, model)));
  };
  projectSelect.addEventListener('change', () => void loadModels().catch(showError));
  const branch = h('input', { id: 'run-branch', name: 'branch', placeholder: 'default branch' });
  const commit = h('input', { id: 'run-commit', name: 'commit', placeholder: 'optional, ≥ 7 hex', pattern: '[0-9a-fA-F]{7,40}' });
  const parameters = h('textarea', { id: 'run-parameters', name: 'parameters', spellcheck: 'false', 'aria-describedby': 'parameters-help' }, '{}');
  const problem = h('p', { class: 'error', role: 'alert', id: 'run-error' });
  const submit = async (event) => {
    event.preventDefault();
    problem.textContent = '';
    let parsed;
    try {
      parsed = JSON.parse(parameters.value || '{}');
    } catch (error) {
      problem.textContent = `Parameters are not valid JSON: ${error.message}`;
      parameters.focus();
      return;
    }
    const model = modelSelect.value;
    try {
      const receipt = await api('POST', '/v1/runs', {
        scope: model ? 'model' : 'project', mode: 'async', project_name: projectSelect.value, model_name: model || null,
        branch: branch.value.trim() || null, commit_sha: commit.value.trim() || null, parameters: parsed,
      });
      location.hash = `#/runs/${receipt.run_id}`;
    } catch (error) {
      problem.textContent = error.message;
    }
  };
  render(view, 'New run', names.length === 0 ? h('p', { class: 'empty' }, 'No projects to run yet.') : h('form', { id: 'new-run', onsubmit: submit },
    h('label', { for: 'run-project' }, 'Project'), projectSelect,
    h('label', { for: 'run-model' }, 'Model'), modelSelect,
    h('label', { for: 'run-branch' }, 'Branch'), branch,
    h('label', { for: 'run-commit' }, 'Commit'), commit,
    h('label', { for: 'run-parameters' }, 'Parameters (JSON object)'), parameters,
    h('p', { id: 'parameters-help', class: 'help' }, 'Delivered to the run as /inputs/parameters.json.'),
    h('button', { type: 'submit' }, 'Start run'), problem));
  await loadModels();
}

async function route() {
  leave.abort();
  leave = new AbortController();
  const signal = leave.signal;
  const [path, search = ''] = location.hash.replace(/^#/, '').split('?');
  const query = new URLSearchParams(search);
  const parts = (path || '/runs').split('/').filter(Boolean);
  for (const link of nav.querySelectorAll('a')) link.toggleAttribute('aria-current', link.getAttribute('href') === `#/${parts[0]}`);
  for (const link of nav.querySelectorAll('a[aria-current]')) link.setAttribute('aria-current', 'page');
  try {
    if (parts[0] === 'runs' && parts[1]) await runPage(view, parts[1], { api, followLogs, signal });
    else if (parts[0] === 'projects') await projectsPage();
    else if (parts[0] === 'new') await newRunPage(query);
    else await runsPage(query, signal);
  } catch (error) {
    showError(error);
  }
}

function signedIn() {
  login.hidden = true;
  view.hidden = false;
  nav.hidden = false;
  void route();
}

document.getElementById('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  token.set(document.getElementById('token').value.trim());
  try {
    await api('GET', '/v1/projects');
    document.getElementById('token').value = '';
    signedIn();
  } catch (error) {
    signOut(error instanceof ApiError && error.status === 401 ? 'That token was refused.' : error.message);
  }
});
document.getElementById('sign-out').addEventListener('click', () => signOut());
window.addEventListener('hashchange', () => { if (token.get()) void route(); });
if (token.get()) signedIn();
else signOut();
