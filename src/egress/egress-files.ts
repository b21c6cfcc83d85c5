// The directory the server shares with the egress proxy: a grant file per run (server → proxy), a counts file per run (proxy → server).
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { parseCidr } from './cidr.ts';

/** Run ids name files: nothing but these characters may reach a path. */
export const RUN_ID = /^[A-Za-z0-9-]{1,64}$/;

const grantSchema = z.strictObject({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  /**
   * The CIDRs at this port that the operator wrote inside refused space (private, loopback, link-local, metadata):
   * the only such addresses the grant may reach. Every other address must be public.
   */
  privateRanges: z.array(z.string().refine((text) => parseCidr(text).value !== undefined, 'must be a CIDR range')),
});
/** What one destination of a run may reach through the egress proxy (egress-rules.ts makes them). */
export type EgressGrant = z.infer<typeof grantSchema>;

/** What the proxy lets one run do: written whole by the server (atomic rename), removed when the run ends. */
export const grantFileSchema = z.strictObject({
  run: z.string().regex(RUN_ID),
  /** sha256 (hex) of the run's proxy credential: the file never holds the credential itself. */
  tokenSha256: z.string().regex(/^[0-9a-f]{64}$/),
  grants: z.array(grantSchema),
});
export type GrantFile = z.infer<typeof grantFileSchema>;

const destinationCountSchema = z.strictObject({
  host: z.string(),
  port: z.number().int(),
  bytes_out: z.number().int().min(0),
  bytes_in: z.number().int().min(0),
  connections: z.number().int().min(0),
});

/** What one run's connections moved, per granted destination, and what it was refused; written by the proxy. */
export const countsFileSchema = z.strictObject({
  run: z.string().regex(RUN_ID),
  /** True once the proxy has seen the run's grant file gone and closed its connections: nothing more will be counted. */
  closed: z.boolean(),
  egress: z.array(destinationCountSchema),
  refused: z.array(z.strictObject({ host: z.string(), port: z.number().int(), reason: z.string(), attempts: z.number().int().min(1) })),
});
export type CountsFile = z.infer<typeof countsFileSchema>;
export type DestinationCount = z.infer<typeof destinationCountSchema>;

export const grantsDir = (dir: string) => join(dir, 'grants');
export const countsDir = (dir: string) => join(dir, 'counts');
export const grantPath = (dir: string, runId: string) => join(grantsDir(dir), `${runId}.json`);
export const countsPath = (dir: string, runId: string) => join(countsDir(dir), `${runId}.json`);
/** Written by the proxy once it listens (in its one writable directory; not a counts file: no `.json`). */
export const proxyReadyPath = (dir: string) => join(countsDir(dir), 'proxy-ready');

export function tokenSha256(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** Whether `token` is the credential whose hash the grant file holds (constant time). */
export function tokenMatches(file: GrantFile, token: string): boolean {
  return timingSafeEqual(Buffer.from(tokenSha256(token), 'hex'), Buffer.from(file.tokenSha256, 'hex'));
}

/**
 * Writes a whole file under a temporary name and renames it into place: a reader sees the old file or the new one, never
 * half. Readable by all: the server and the proxy run as different users, and neither file holds a secret.
 */
export function writeAtomically(path: string, value: unknown): void {
  const temporary = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(temporary, JSON.stringify(value), { mode: 0o644 });
  renameSync(temporary, path);
}

/** The parsed file, or undefined when there is none; a file that does not parse is an error (no silent fallback). */
export function readJsonFile<T>(path: string, schema: z.ZodType<T>): T | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  return schema.parse(JSON.parse(text));
}
