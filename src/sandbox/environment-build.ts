// Builds one environment image with the engine's build API: a context of the Dockerfile and the checked package
// files, under the build caps (time, memory, image size), with the build's log kept as a bounded tail.
import type Dockerode from 'dockerode';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pack, type Pack } from 'tar-stream';
import { SandrunError } from '../errors.ts';
import { engineError, isNotFound } from './engine-errors.ts';
import { environmentDockerfile, type EnvironmentRecipe } from './environment-dockerfile.ts';

export const ENVIRONMENT_LABEL = 'sandrun.environment';

export interface EnvironmentBuild {
  recipe: EnvironmentRecipe;
  tag: string;
  /** The checked files of the repository that go into the context. */
  pipRequirements: string | null;
  npm: { packageJson: string; lockfile: string } | null;
  /** The operator's wheel directory (SANDRUN_PIP_FIND_LINKS), copied into the context. */
  wheelDir: string | undefined;
  /** SANDRUN_BUILD_CA_FILE: copied into the context as ca.pem when the recipe says caBundle. */
  caFile: string | undefined;
}

export interface BuildCaps {
  timeoutMs: number;
  memoryMb: number;
  maxImageBytes: number;
  network: string;
}

export interface BuiltImage {
  imageId: string;
  sizeBytes: number;
}

/** The build log a project view shows: its last part. */
export const BUILD_LOG_TAIL_BYTES = 64 * 1024;
/** The build log a failed run carries in error.details.log: its last part. */
export const FAILURE_LOG_TAIL_BYTES = 8 * 1024;
/** The classic builder colours a step's stderr. */
// eslint-disable-next-line no-control-regex
const ANSI_COLOUR = /\x1b\[[0-9;]*m/g;
/** What a wheel directory may hold that pip can take. */
const WHEEL_FILE = /\.(whl|tar\.gz|zip)$/;

/** A bounded tail of the build's text; `onLine` sees everything as it comes. */
export class BuildLog {
  private text = '';
  constructor(private readonly onText?: (text: string) => void) {}
  push(raw: string): void {
    const text = raw.replace(ANSI_COLOUR, '');
    this.onText?.(text);
    this.text = (this.text + text).slice(-BUILD_LOG_TAIL_BYTES);
  }
  tail(bytes = BUILD_LOG_TAIL_BYTES): string {
    return this.text.slice(-bytes);
  }
}

function failed(message: string, log: BuildLog): SandrunError {
  return new SandrunError('environment_failed', message, { log: log.tail(FAILURE_LOG_TAIL_BYTES) });
}

async function addFile(archive: Pack, name: string, path: string): Promise<void> {
  const { size } = await stat(path);
  await new Promise<void>((resolve, reject) => {
    const sink = archive.entry({ name, size, mode: 0o644 }, (error) => (error ? reject(error) : resolve()));
    createReadStream(path).on('error', reject).pipe(sink);
  });
}

/** The context, filled as the engine reads it (a file larger than the stream's buffer would otherwise wait for ever). */
function buildContext(build: EnvironmentBuild): Pack {
  const archive = pack();
  fillContext(archive, build).then(
    () => archive.finalize(),
    (error: unknown) => archive.destroy(error as Error),
  );
  return archive;
}

async function fillContext(archive: Pack, build: EnvironmentBuild): Promise<void> {
  archive.entry({ name: 'Dockerfile', mode: 0o644 }, environmentDockerfile(build.recipe));
  if (build.recipe.caBundle && build.caFile) await addFile(archive, 'ca.pem', build.caFile);
  if (build.pipRequirements !== null) {
    archive.entry({ name: 'pip/requirements.txt', mode: 0o644 }, build.pipRequirements);
    if (build.wheelDir) {
      archive.entry({ name: 'pip/wheels/', type: 'directory', mode: 0o755 });
      for (const entry of await readdir(build.wheelDir, { withFileTypes: true })) {
        if (entry.isFile() && WHEEL_FILE.test(entry.name)) await addFile(archive, `pip/wheels/${entry.name}`, join(build.wheelDir, entry.name));
      }
    }
  }
  if (build.npm) {
    archive.entry({ name: 'npm/package.json', mode: 0o644 }, build.npm.packageJson);
    archive.entry({ name: 'npm/package-lock.json', mode: 0o644 }, build.npm.lockfile);
  }
}

interface BuildMessage {
  stream?: string;
  status?: string;
  error?: string;
  aux?: { ID?: string };
}

/** Reads the engine's newline-delimited JSON progress into the log; resolves with the error the build ended with, if any. */
async function followBuild(response: NodeJS.ReadableStream, log: BuildLog): Promise<string | undefined> {
  let pending = '';
  let error: string | undefined;
  for await (const chunk of response) {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (!line.trim()) continue;
      let message: BuildMessage;
      try {
        message = JSON.parse(line) as BuildMessage;
      } catch {
        log.push(`${line}\n`);
        continue;
      }
      if (message.stream) log.push(message.stream);
      else if (message.status) log.push(`${message.status}\n`);
      if (message.error) {
        error = message.error;
        log.push(`${message.error}\n`);
      }
    }
  }
  return error;
}

/**
 * Builds the image; a failure of the build itself (a package that does not exist, a cap) is environment_failed with
 * the log's tail in details.log; an engine that does not answer is engine_unavailable.
 */
export async function buildEnvironmentImage(
  engine: Dockerode,
  build: EnvironmentBuild,
  caps: BuildCaps,
  options: { signal?: AbortSignal; onLog?: (text: string) => void } = {},
): Promise<BuiltImage> {
  const log = new BuildLog(options.onLog);
  const deadline = AbortSignal.timeout(caps.timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
  let response: NodeJS.ReadableStream;
  try {
    response = await engine.buildImage(buildContext(build), {
      t: build.tag,
      rm: true,
      forcerm: true,
      pull: false,
      networkmode: caps.network,
      memory: caps.memoryMb * 1024 * 1024,
      memswap: caps.memoryMb * 1024 * 1024,
      abortSignal: signal,
    } as Dockerode.ImageBuildOptions);
  } catch (error) {
    if (deadline.aborted) throw failed(`the build did not finish within ${caps.timeoutMs / 1000} s (SANDRUN_BUILD_TIMEOUT_SECONDS)`, log);
    throw engineError(error, 'building an environment image');
  }
  const stop = () => (response as NodeJS.ReadableStream & { destroy?: (error?: Error) => void }).destroy?.();
  signal.addEventListener('abort', stop, { once: true });
  let buildError: string | undefined;
  try {
    buildError = await followBuild(response, log);
  } catch (error) {
    if (!signal.aborted) throw engineError(error, 'building an environment image');
  } finally {
    signal.removeEventListener('abort', stop);
  }
  if (deadline.aborted) throw failed(`the build did not finish within ${caps.timeoutMs / 1000} s (SANDRUN_BUILD_TIMEOUT_SECONDS)`, log);
  signal.throwIfAborted();
  if (buildError !== undefined) throw failed(`the environment build failed: ${lastLine(buildError)}`, log);
  const image = await inspect(engine, build.tag);
  if (!image) throw failed('the build ended without an image', log);
  if (image.Size > caps.maxImageBytes) {
    await engine.getImage(build.tag).remove({ force: true }).catch(() => undefined);
    throw failed(
      `the environment image is ${Math.round(image.Size / 1024 / 1024)} MB, more than the ${Math.round(caps.maxImageBytes / 1024 / 1024)} MB an environment may take (SANDRUN_BUILD_MAX_IMAGE_MB); it was removed`,
      log,
    );
  }
  return { imageId: image.Id, sizeBytes: image.Size };
}

function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return lines[lines.length - 1] ?? text;
}

async function inspect(engine: Dockerode, tag: string): Promise<{ Id: string; Size: number } | undefined> {
  try {
    return await engine.getImage(tag).inspect();
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw engineError(error, `inspecting image ${tag}`);
  }
}
