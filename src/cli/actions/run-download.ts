// What `sandrun runs download RUN [PATH] [-o DIR]` does: a run's artifacts written under DIR at their paths, checked against their SHA-256.
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, realpath, rename, rm } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { RunResultView } from '../../runs/run-view.ts';
import { apiClient, type ApiClient } from '../api-client.ts';
import { CliError, EXIT } from '../cli-error.ts';
import { printJson, segment, type CliContext, type HttpFlags } from '../context.ts';

export interface DownloadFlags extends HttpFlags {
  output?: string;
}

type ArtifactView = RunResultView['artifacts'][number];

/** Whether `path` lies inside `root` (both absolute). */
function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
}

/**
 * Where an artifact goes under `root`: refused when its path would leave it, by `..`, an absolute path, or a
 * directory under `root` that is a link to elsewhere (checked once the directories exist).
 */
const refusal = (root: string, artifactPath: string) => new CliError(`refusing to write artifact '${artifactPath}': its path leads outside ${root}`, EXIT.usage);

export async function artifactTarget(root: string, artifactPath: string): Promise<string> {
  const target = resolve(root, artifactPath);
  const refuse = () => refusal(root, artifactPath);
  if (!inside(root, target)) throw refuse();
  await mkdir(dirname(target), { recursive: true });
  const realRoot = await realpath(root);
  const realParent = await realpath(dirname(target));
  if (realParent !== realRoot && !inside(realRoot, realParent)) throw refuse();
  return target;
}

async function fetchOne(client: ApiClient, runId: string, artifact: ArtifactView, target: string): Promise<void> {
  const response = await client.download(`/v1/runs/${segment(runId)}/artifacts/${artifact.path.split('/').map(segment).join('/')}`);
  const hash = createHash('sha256');
  response.on('data', (chunk: Buffer) => hash.update(chunk));
  // Written beside the target and moved into place once whole and checked: never a half file under its name.
  const partial = `${target}.sandrun-partial`;
  try {
    await pipeline(response, createWriteStream(partial));
    const sha256 = hash.digest('hex');
    if (sha256 !== artifact.sha256) throw new CliError(`artifact '${artifact.path}' arrived with SHA-256 ${sha256}, not the ${artifact.sha256} the run lists`, EXIT.api);
    await rename(partial, target);
  } finally {
    await rm(partial, { force: true });
  }
}

export async function downloadArtifacts(context: CliContext, runId: string, path: string | undefined, flags: DownloadFlags): Promise<void> {
  const client = apiClient(context, flags);
  const run = await client.request<RunResultView>('GET', `/v1/runs/${segment(runId)}`);
  const wanted = path === undefined ? run.artifacts : run.artifacts.filter((artifact) => artifact.path === path);
  if (path !== undefined && wanted.length === 0) {
    const known = run.artifacts.map((artifact) => artifact.path).join(', ') || 'none';
    throw new CliError(`run ${runId} has no artifact '${path}' (its artifacts: ${known})`, EXIT.api);
  }
  const root = resolve(flags.output ?? '.');
  await mkdir(root, { recursive: true });
  // Every path checked before any file is written: a run whose paths are not all safe writes nothing.
  const escaping = wanted.find((artifact) => !inside(root, resolve(root, artifact.path)));
  if (escaping) throw refusal(root, escaping.path);
  const written: { path: string; file: string; size: number; sha256: string }[] = [];
  for (const artifact of wanted) {
    const target = await artifactTarget(root, artifact.path);
    await fetchOne(client, runId, artifact, target);
    written.push({ path: artifact.path, file: target, size: artifact.size, sha256: artifact.sha256 });
  }
  if (flags.json) return printJson(context, { run_id: runId, directory: root, artifacts: written });
  if (written.length === 0) context.terminal.stdout.write(`run ${runId} has no artifacts\n`);
  for (const file of written) context.terminal.stdout.write(`${file.file}  ${file.size} bytes\n`);
}
