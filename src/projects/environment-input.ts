// Shared by the checks of what a tenant's repository supplies for an environment build: the error, size caps, quoting.
import { SandrunError } from '../errors.ts';

const SHOWN_CHARS = 100;

/**
 * A rule a declared file breaks, found before any build. It answers in the shape of a failed build (SPEC §9): its
 * reason is its log, so a run refused this way carries `error.details.log` like one whose build failed.
 */
export function environmentRefused(message: string, details: Record<string, unknown>): SandrunError {
  return new SandrunError('environment_failed', message, { ...details, log: message });
}

/** Tenant text as a message shows it: control characters escaped, cut at 100 characters. */
export function shown(text: string): string {
  const cut = text.length > SHOWN_CHARS ? `${text.slice(0, SHOWN_CHARS)}…` : text;
  return JSON.stringify(cut).slice(1, -1);
}

function describeBytes(bytes: number): string {
  if (bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)} MiB`;
  if (bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} bytes`;
}

/** Refuses a file larger than maxBytes (UTF-8), before anything parses it. */
export function checkFileSize(file: string, text: string, maxBytes: number): void {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > maxBytes) {
    throw environmentRefused(`${file} is ${bytes} bytes: at most ${describeBytes(maxBytes)} is allowed`, {
      file,
      bytes,
      max_bytes: maxBytes,
    });
  }
}
