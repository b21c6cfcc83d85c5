// Turns a finished task (exit code, OOM flag, outputs frame) into the sandbox's outcome and outputs.
import type Dockerode from 'dockerode';
import { Readable } from 'node:stream';
import { SandrunError } from '../../errors.ts';
import type { SandboxOutcome } from '../backend.ts';
import { exitedOutcome } from '../exit-outcome.ts';
import { readOutputsTar, type ArtifactCapture, type OutputsLimits, type OutputsReadResult } from '../outputs.ts';
import type { Artifact } from '../../artifacts/artifact-types.ts';
import type { OutputsFrame } from './output-frame.ts';
import type { TaskInfo } from './task-watch.ts';
import { delay } from '../../delay.ts';

/** How long a SIGKILLed run's container may take to show OOMKilled, and how often it is asked meanwhile. */
const OOM_FLAG_GRACE_MS = 500;
const OOM_FLAG_POLL_MS = 50;

/** A task that ended without its command having run to an exit: the platform failed (image, node, engine). */
export function taskFailure(task: TaskInfo): SandrunError | undefined {
  const exitCode = task.Status.ContainerStatus?.ExitCode;
  const ranToExit = (task.Status.State === 'complete' || task.Status.State === 'failed') && exitCode !== undefined && task.Status.ContainerStatus?.ContainerID;
  if (ranToExit) return undefined;
  const detail = task.Status.Err ?? task.Status.Message ?? task.Status.State;
  const code = /image/i.test(detail) ? 'image_unavailable' : 'engine_unavailable';
  return new SandrunError(code, `the swarm task of this run ended ${task.Status.State} before its command ran: ${detail}`);
}

export async function outcomeOf(
  exitCode: number,
  oomKilled: boolean,
  frame: OutputsFrame | undefined,
  limits: OutputsLimits,
  capture?: ArtifactCapture,
): Promise<{ outcome: SandboxOutcome; outputs: Record<string, unknown>; artifacts?: Artifact[] }> {
  const read = oomKilled ? NOT_READ : await readFrame(exitCode, frame, limits, capture);
  return { outcome: exitedOutcome(exitCode, oomKilled, read), outputs: read.outputs, artifacts: read.artifacts };
}

const NOT_READ: OutputsReadResult = { ok: true, outputs: {}, totalBytes: 0, sawRoot: false };

/** The outputs a task returned in its frame, read under the same caps as on the Docker backend. */
async function readFrame(exitCode: number, frame: OutputsFrame | undefined, limits: OutputsLimits, capture: ArtifactCapture | undefined): Promise<OutputsReadResult> {
  if (frame?.tooLarge) return { ok: false, code: 'output_too_large', message: `/outputs holds more than the ${limits.maxBytes} bytes allowed`, outputs: {} };
  if (!frame || frame.exitCode !== exitCode || frame.tarStatus !== 0) {
    const why = !frame ? 'the task ended without returning it' : frame.tarStatus !== 0 ? `tar exited with ${frame.tarStatus}` : 'its frame does not match the exit';
    return { ok: false, code: 'output_invalid', message: `could not read /outputs: ${why}`, outputs: {} };
  }
  return readOutputsTar(Readable.from([Buffer.from(frame.base64, 'base64')]), limits, capture);
}

/**
 * Swarm's task status does not say OOM; the node's engine does, while the task's container exists. The engine
 * learns of the OOM kill from its own event, which can come after the exit: a SIGKILLed run (137) is asked again for a while.
 */
export async function taskOomKilled(engine: Dockerode | undefined, containerId: string | undefined, exitCode: number): Promise<boolean> {
  if (exitCode === 0 || !engine || !containerId) return false;
  const graceMs = exitCode === 137 ? OOM_FLAG_GRACE_MS : 0;
  for (const deadline = Date.now() + graceMs; ; await delay(OOM_FLAG_POLL_MS)) {
    const info = await engine.getContainer(containerId).inspect().catch(() => undefined);
    if (info?.State.OOMKilled === true) return true;
    if (!info || Date.now() >= deadline) return false;
  }
}
