// Reads a run's /outputs from a tar stream: top-level NAME.json regular files become outputs.NAME.
import type { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import { withoutExcerpt } from '../json-excerpt.ts';

export interface OutputsLimits {
  maxBytes: number;
  maxEntries: number;
}

export type OutputsReadResult =
  | { ok: true; outputs: Record<string, unknown>; totalBytes: number; /** the archive held /outputs itself */ sawRoot: boolean }
  | { ok: false; code: 'output_invalid' | 'output_too_large'; message: string; outputs: Record<string, unknown> };

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

/** Parses the tar of /outputs (as `tar -c -C /outputs .` writes it) under the given caps. */
export async function readOutputsTar(tar: Readable, limits: OutputsLimits): Promise<OutputsReadResult> {
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
      entry.resume(); // the root, nested and non-JSON files are the run's own business
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
    try {
      outputs.set(key, JSON.parse(Buffer.concat(chunks).toString('utf8')));
    } catch (error) {
      // Not V8's excerpt of the file: it may hold part of a secret, which whole-value redaction cannot recognise.
      fail('output_invalid', `/outputs/${name} is not valid JSON: ${withoutExcerpt((error as Error).message)}`);
    }
  }
  tar.destroy();
  if (failure) return { ok: false, ...failure, outputs: Object.fromEntries(outputs) };
  return { ok: true, outputs: Object.fromEntries(outputs), totalBytes, sawRoot };
}
