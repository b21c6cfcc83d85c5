// A run's artifacts on its page: each listed with a download link; images shown inline through <img> (never as DOM), CSV files as tables.
import { token } from './api.js';
import { h } from './dom.js';

/** Raster formats: shown from a blob: URL; nothing in them can run. */
const RASTER = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);
const CSV_ROWS_SHOWN = 200;

const artifactUrl = (runId, path) => `/v1/runs/${encodeURIComponent(runId)}/artifacts/${path.split('/').map(encodeURIComponent).join('/')}`;

async function fetchArtifact(runId, path) {
  const response = await fetch(artifactUrl(runId, path), { headers: { authorization: `Bearer ${token.get() ?? ''}` } });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.blob();
}

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** RFC 4180 fields: quoted fields may hold commas, quotes ("") and newlines. */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const char = text[i];
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') (field += '"'), (i += 1);
      else if (char === '"') quoted = false;
      else field += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') row.push(field), (field = '');
    else if (char === '\n' || char === '\r') {
      if (char === '\r' && text[i + 1] === '\n') i += 1;
      row.push(field), rows.push(row), (row = []), (field = '');
    } else field += char;
  }
  if (field !== '' || row.length > 0) row.push(field), rows.push(row);
  return rows;
}

function csvTable(path, text) {
  const [header = [], ...rows] = parseCsv(text);
  const shown = rows.slice(0, CSV_ROWS_SHOWN);
  const note = rows.length > shown.length ? `the first ${shown.length} of ${rows.length} rows` : `${rows.length} rows`;
  return h('figure', { class: 'artifact-csv' },
    h('figcaption', {}, `${path} (${note})`),
    h('div', { class: 'table-scroll' },
      h('table', { 'aria-label': path }, h('thead', {}, h('tr', {}, header.map((cell) => h('th', { scope: 'col' }, cell)))), h('tbody', {}, shown.map((cells) => h('tr', {}, cells.map((cell) => h('td', {}, cell))))))));
}

/**
 * An SVG becomes a data: URL for an <img>: an image element runs none of its script, and a data: URL (unlike a
 * blob: URL, which belongs to this origin) is never a document of the console's origin if opened on its own.
 */
function dataUrl(blob, type) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(new Blob([blob], { type }));
  });
}

async function preview(runId, artifact) {
  if (RASTER.has(artifact.content_type)) {
    const blob = await fetchArtifact(runId, artifact.path);
    const url = URL.createObjectURL(new Blob([blob], { type: artifact.content_type }));
    return h('figure', { class: 'artifact-image' }, h('img', { src: url, alt: artifact.path }), h('figcaption', {}, artifact.path));
  }
  if (artifact.content_type === 'image/svg+xml') {
    const url = await dataUrl(await fetchArtifact(runId, artifact.path), 'image/svg+xml');
    return h('figure', { class: 'artifact-image' }, h('img', { src: url, alt: artifact.path }), h('figcaption', {}, artifact.path));
  }
  if (artifact.content_type === 'text/csv') return csvTable(artifact.path, await (await fetchArtifact(runId, artifact.path)).text());
  return undefined;
}

/** Saves an artifact under its own name: fetched with the token, handed to the browser as opaque bytes (never rendered). */
async function save(runId, artifact) {
  const blob = await fetchArtifact(runId, artifact.path);
  const url = URL.createObjectURL(new Blob([blob], { type: 'application/octet-stream' }));
  const link = h('a', { href: url, download: artifact.path.split('/').pop() });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** The Artifacts section: filled once, when the run has ended. */
export function artifactsSection(runId) {
  const element = h('section', { id: 'artifacts', 'aria-labelledby': 'artifacts-title' }, h('h2', { id: 'artifacts-title' }, 'Artifacts'), h('p', { class: 'empty' }, '(when the run ends)'));
  let shown = false;
  const update = (run, terminal) => {
    if (shown || !terminal) return;
    shown = true;
    const artifacts = run.artifacts ?? [];
    if (artifacts.length === 0) {
      element.replaceChildren(element.firstChild, h('p', { class: 'empty' }, 'This run left no files under /outputs.'));
      return;
    }
    const problem = h('p', { class: 'error', role: 'alert' });
    const rows = artifacts.map((artifact) => {
      const link = h('a', { href: '#', class: 'artifact-download', onclick: (event) => {
        event.preventDefault();
        save(runId, artifact).catch((error) => (problem.textContent = `Could not download ${error.message}`));
      } }, artifact.path);
      return h('tr', {}, h('td', {}, link), h('td', {}, formatSize(artifact.size)), h('td', {}, artifact.content_type));
    });
    const previews = h('div', { class: 'artifact-previews' });
    element.replaceChildren(element.firstChild,
      h('table', { 'aria-label': 'artifacts' }, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'File'), h('th', { scope: 'col' }, 'Size'), h('th', { scope: 'col' }, 'Type'))), h('tbody', {}, rows)),
      problem, previews);
    // One at a time, in the listed order: a run with many images does not flood the server.
    (async () => {
      for (const artifact of artifacts) {
        try {
          const shownAs = await preview(runId, artifact);
          if (shownAs) previews.append(shownAs);
        } catch (error) {
          problem.textContent = `Could not show ${error.message}`;
        }
      }
    })();
  };
  return { element, update };
}
