// Reads a run's /outputs from a tar stream: top-level NAME.json regular files become outputs.NAME; every regular file is kept as an artifact.
import { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import { SandrunError, errorMessage } from '../errors.ts';
import { withoutExcerpt } from '../json-excerpt.ts';
import { isArtifactPath, type Artifact } from '../artifacts/artifact-types.ts';

export interface OutputsLimits {
  maxBytes: number;
  maxEntries: number;
}

/** Keeps one file's bytes as the tar streams them (artifact-capture.ts): consumes `content` whole. */
export interface ArtifactCapture {
  keep(path: string, content: AsyncIterable<Buffer>): Promise<Artifact>;
}

/**
 * `artifacts`: the files kept, sorted by path; absent when none was (no capture, or the archive was past the cap or
 * not read whole: then none of it counts).
 */
export type OutputsReadResult =
  | { ok: true; outputs: Record<string, unknown>; totalBytes: number; /** the archive held /outputs itself */ sawRoot: boolean; artifacts?: Artifact[] }
  | { ok: false; code: 'output_invalid' | 'output_too_large'; message: string; outputs: Record<string, unknown>; artifacts?: Artifact[] };

/** The outcome of outputs past the cap, wherever that was found. */
export function tooLarge(limits: OutputsLimits): OutputsReadResult {
  return { ok: false, code: 'output_too_large', message: `/outputs holds more than the ${limits.maxBytes} bytes allowed`, outputs: {} };
}

/**
 * What a read means once the `tar` that wrote the archive has said how it ended: an archive that ended early or a
 * tar that failed must not pass for "no outputs" (outputs past the cap stay too large, whatever tar then did).
 * `tar.status` undefined: its exit is unknown.
 */
export function withTarStatus(read: OutputsReadResult, tar: { status: number | undefined; message: string }): OutputsReadResult {
  if (!read.ok && read.code === 'output_too_large') return read;
  const failed = (detail: string): OutputsReadResult => ({ ok: false, code: 'output_invalid', message: `could not read /outputs: ${detail}`, outputs: {} });
  if (tar.status !== 0) return failed(tar.message.trim() || `tar exited with ${tar.status ?? 'no exit code'}`);
  if (read.ok && !read.sawRoot) return failed('the archive of /outputs was empty');
  return read;
}

const OUTPUT_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/**
 * Parses the tar of /outputs (as `tar -c -C /outputs .` writes it) under the given caps; with a capture, each regular
 * file (links and devices never) is kept as it streams. A file that cannot be kept (the server's disk) rejects with a
 * SandrunError: that is the platform's failure, not the run's.
 */
export async function readOutputsTar(tar: Readable, limits: OutputsLimits, capture?: ArtifactCapture): Promise<OutputsReadResult> {
  // Collected in a Map and turned into an object by defining properties, never assigning them: an output named
  // __proto__, constructor or toString is an ordinary key, not a write to the object's prototype.
  const outputs = new Map<string, unknown>();
  let totalBytes = 0;
  let entries = 0;
  let sawRoot = false;
  let failure: { code: 'output_invalid' | 'output_too_large'; message: string } | undefined;
  const fail = (code: 'output_invalid' | 'output_too_large', message: string) => {
    failure ??= { code, message };
  };
  const artifacts: Artifact[] = [];
  let notKept: SandrunError | undefined;
  const keep = async (name: string, content: AsyncIterable<Buffer>) => {
    if (notKept) return;
    // A tar that breaks off mid-file is the read's failure (thrown on, as without a capture); only the sink's is the server's.
    let cutOff = false;
    const read = async function* () {
      try {
        for await (const chunk of content) yield chunk;
      } catch (error) {
        cutOff = true;
        throw error;
      }
    };
    try {
      artifacts.push(await capture!.keep(name, read()));
    } catch (error) {
      if (cutOff) throw error;
      notKept = new SandrunError('internal', `keeping /outputs/${name} as an artifact: ${errorMessage(error)}`, undefined, { cause: error });
    }
  };
  const keepable = (name: string, type: string | null | undefined) => capture !== undefined && type === 'file' && isArtifactPath(name);

  const extractor = extract();
  tar.pipe(extractor);
  for await (const entry of extractor) {
    const name = entry.header.name.replace(/^\.\//, '').replace(/\/$/, '');
    if (name === '' || name === '.') sawRoot = true;
    entries += 1;
    totalBytes += entry.header.size ?? 0;
    if (entries > limits.maxEntries + 1) {
      fail('output_too_large', `/outputs holds more than ${limits.maxEntries} entries`);
    } else if (totalBytes > limits.maxBytes) {
      fail('output_too_large', `/outputs holds more than the ${limits.maxBytes} bytes allowed`);
    }
    if (failure?.code === 'output_too_large') {
      entry.resume();
      break;
    }
    const isTopLevelJson = name !== '' && name !== '.' && !name.includes('/') && name.endsWith('.json');
    if (!isTopLevelJson) {
      // Kept as it streams (the cap above bounds it); the root, directories and links are not files to keep.
      if (keepable(name, entry.header.type)) await keep(name, entry);
      entry.resume();
      continue;
    }
    const key = name.slice(0, -'.json'.length);
    if (entry.header.type !== 'file') {
      fail('output_invalid', `/outputs/${name} is a ${entry.header.type}, not a regular file; links are never followed`);
      entry.resume();
      continue;
    }
    if (!OUTPUT_NAME.test(key)) {
      fail('output_invalid', `/outputs/${name}: an output name is letters, digits, '_', '-' and '.'`);
      entry.resume();
      continue;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk);
    const bytes = Buffer.concat(chunks);
    if (keepable(name, entry.header.type)) await keep(name, Readable.from([bytes]));
    try {
      outputs.set(key, JSON.parse(bytes.toString('utf8')));
    } catch (error) {
      // Not V8's excerpt of the file: it may hold part of a secret, which whole-value redaction cannot recognise.
      fail('output_invalid', `/outputs/${name} is not valid JSON: ${withoutExcerpt((error as Error).message)}`);
    }
  }
  tar.destroy();
  if (notKept && failure?.code !== 'output_too_large') throw notKept;
  const kept = capture && failure?.code !== 'output_too_large' ? { artifacts: artifacts.sort((a, b) => Buffer.compare(Buffer.from(a.path), Buffer.from(b.path))) } : {};
  if (failure) return { ok: false, ...failure, outputs: Object.fromEntries(outputs), ...kept };
  return { ok: true, outputs: Object.fromEntries(outputs), totalBytes, sawRoot, ...kept };
}
