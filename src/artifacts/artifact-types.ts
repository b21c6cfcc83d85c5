// What a kept file under /outputs is (SPEC §12): its path rule, its content type from the extension, whether it is text to redact.

/** One file a run left under /outputs, as stored and listed. */
export interface Artifact {
  /** Relative to /outputs, '/'-separated, e.g. `nested/dir/report.txt`. */
  path: string;
  size: number;
  /** Hex SHA-256 of the bytes as stored (after redaction). */
  sha256: string;
  contentType: string;
}

interface KnownType {
  contentType: string;
  /** Compressed or binary image data: redaction could only corrupt it, never find a value in it. */
  binary: boolean;
}

const TYPES: Record<string, KnownType> = {
  png: { contentType: 'image/png', binary: true },
  jpg: { contentType: 'image/jpeg', binary: true },
  jpeg: { contentType: 'image/jpeg', binary: true },
  gif: { contentType: 'image/gif', binary: true },
  webp: { contentType: 'image/webp', binary: true },
  svg: { contentType: 'image/svg+xml', binary: false },
  csv: { contentType: 'text/csv', binary: false },
  txt: { contentType: 'text/plain', binary: false },
  log: { contentType: 'text/plain', binary: false },
  md: { contentType: 'text/markdown', binary: false },
  json: { contentType: 'application/json', binary: false },
  html: { contentType: 'text/html', binary: false },
  htm: { contentType: 'text/html', binary: false },
};

const UNKNOWN: KnownType = { contentType: 'application/octet-stream', binary: false };

function typeOf(path: string): KnownType {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return UNKNOWN;
  return TYPES[name.slice(dot + 1).toLowerCase()] ?? UNKNOWN;
}

export function contentTypeOf(path: string): string {
  return typeOf(path).contentType;
}

/**
 * Whether a file's bytes pass through secret redaction: all but the known binary image formats. A file of unknown
 * type is treated as text, since a log or a dump is more likely than a format redaction could corrupt.
 */
export function isRedactable(path: string): boolean {
  return !typeOf(path).binary;
}

/** Longest artifact path kept (bytes of UTF-8); longer names are not kept. */
export const MAX_ARTIFACT_PATH_BYTES = 1024;

/**
 * An artifact path as a run may name it: segments of any characters but control characters, none empty, `.` or
 * `..`; the tar of /outputs never writes others, and a URL or a download directory can always hold it.
 */
export function isArtifactPath(path: string): boolean {
  if (path === '' || Buffer.byteLength(path) > MAX_ARTIFACT_PATH_BYTES) return false;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(path)) return false;
  return path.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}
