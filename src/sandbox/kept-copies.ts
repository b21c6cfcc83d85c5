// Reads what the supervisor of a run with secrets kept in its container's memory (kept-in-memory.ts), for a server that adopts the run: a kept file (from an offset), whether copies are kept, /outputs; each by a bounded exec.
//
// The Docker launcher's and the swarm wrapper's copies are the same files, read the same way (finish-from-copies.ts).
import type Dockerode from 'dockerode';
import { PassThrough } from 'node:stream';
import { OUTPUTS, RUN_USER } from './container-layout.ts';
import { readOutputsTar, withTarStatus, type ArtifactCapture, type OutputsLimits, type OutputsReadResult } from './outputs.ts';
import { execRead } from './exec-process.ts';
import { KEPT_STDOUT_FIFO } from './kept-in-memory.ts';

/**
 * Whether the supervisor of this running container keeps copies: it made the FIFOs before the command started, so
 * their absence means it never will (an image without `mkfifo` or `tee`). False too once the container has stopped.
 */
export async function keepsCopies(container: Dockerode.Container): Promise<boolean> {
  return (await execRead(container, ['sh', '-c', '[ -p "$1" ]', 'sandrun', KEPT_STDOUT_FIFO], RUN_USER, () => undefined)).ok;
}

/**
 * /outputs of the still-running container, by `tar` run inside it (the archive API cannot see a tmpfs), under the
 * outputs' caps; for a supervisor that prints its frame into no log (the swarm wrapper of a run with secrets).
 */
export async function readOutputsByExec(container: Dockerode.Container, limits: OutputsLimits, capture: ArtifactCapture | undefined): Promise<OutputsReadResult> {
  const tar = new PassThrough();
  const reading = readOutputsTar(tar, limits, capture);
  // The parse settles on its own once the stream ends or the caps are passed; what is written after that is dropped.
  void reading.then(
    () => tar.resume(),
    () => tar.resume(),
  );
  const read = await execRead(
    container,
    ['tar', '-c', '-f', '-', '-C', OUTPUTS, '.'],
    RUN_USER,
    (chunk) => void (tar.writableEnded || tar.destroyed ? undefined : tar.write(Buffer.from(chunk))),
  ).finally(() => tar.end());
  const outputs = await reading;
  return withTarStatus(outputs, { status: read.exitCode, message: read.complaint });
}

export type KeptRead = { ok: true; bytes: Buffer } | { ok: false; complaint: string };

/**
 * At most `maxBytes` of a kept file from byte `from` on, by `tail` (or `cat`, skipping, in an image without `tail`)
 * as the run's user (the copies are its own). Not there yet, or a read the run's last processes killed: not ok. A
 * container that stopped reads as not ok too (its tmpfs is gone).
 */
export async function readKeptFile(container: Dockerode.Container, path: string, maxBytes: number, from = 0): Promise<KeptRead> {
  if (from > 0) {
    const read = await readKeptBytes(container, ['tail', '-c', `+${from + 1}`, path], maxBytes, 0);
    if (read.ok) return read;
  }
  return readKeptBytes(container, ['cat', path], maxBytes, from);
}

async function readKeptBytes(container: Dockerode.Container, cmd: string[], maxBytes: number, skip: number): Promise<KeptRead> {
  const chunks: Buffer[] = [];
  let skipped = 0;
  let bytes = 0;
  // The file is no larger than its tmpfs: the cap only bounds what is kept of it.
  const read = await execRead(container, cmd, RUN_USER, (chunk) => {
    const skipping = Math.min(skip - skipped, chunk.length);
    skipped += skipping;
    if (bytes >= maxBytes || skipping === chunk.length) return;
    const kept = Buffer.from(chunk.subarray(skipping, skipping + maxBytes - bytes));
    chunks.push(kept);
    bytes += kept.length;
  });
  return read.ok ? { ok: true, bytes: Buffer.concat(chunks) } : { ok: false, complaint: read.complaint };
}
