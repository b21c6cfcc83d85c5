// Loaded with `node --import` by tests of what a command loads: appends every module the process loads to $SANDRUN_MODULE_LOG.
// Plain JavaScript: it runs in a bare Node child, before anything could compile TypeScript.
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { pathToFileURL } from 'node:url';
import { isMainThread } from 'node:worker_threads';

let log;

/** Module hooks run on a thread of their own: the main thread hands them the log's path. */
export function initialize(data) {
  log = data.log;
}

export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context);
  appendFileSync(log, `${resolved.url}\n`);
  return resolved;
}

if (isMainThread && process.env.SANDRUN_MODULE_LOG) {
  const path = process.env.SANDRUN_MODULE_LOG;
  register(import.meta.url, { data: { log: path } });
  // CommonJS required from CommonJS (a package's own requires) never reaches the resolve hook: require's cache has it.
  const requireCache = createRequire(import.meta.url).cache;
  process.on('exit', () => appendFileSync(path, Object.keys(requireCache).map((file) => `${pathToFileURL(file).href}\n`).join('')));
}
