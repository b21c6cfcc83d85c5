// The server's end of a swarm task's stdio: an attach to its container on the node's own engine, which the run's output cannot outrun.
import type Dockerode from 'dockerode';
import type { Duplex } from 'node:stream';
import { finished } from 'node:stream/promises';
import { SandrunError, errorMessage } from '../../errors.ts';
import { StreamDemux, type ChunkSink } from '../stream-demux.ts';

/**
 * The engine holds a container's writes while an attached reader lags (its attach buffer blocks at about 1 MB),
 * where a log file rotates and a follower behind it loses what was rotated away (docs/decisions.md). The task's
 * wrapper waits on stdin until this attach is made, so no output comes before it.
 */
export class TaskStdio {
  private brokenBy: Error | undefined;
  /** Settles when the engine closes the stream: the container stopped, or the connection to the node broke. */
  readonly ended: Promise<void>;

  private constructor(
    private readonly stream: Duplex,
    readonly container: Dockerode.Container,
    stdout: ChunkSink,
    stderr: ChunkSink,
  ) {
    const demux = new StreamDemux(stdout, stderr);
    stream.on('data', (chunk: Buffer) => demux.push(chunk));
    this.ended = finished(stream).catch((error: unknown) => {
      this.brokenBy = error instanceof Error ? error : new Error(String(error));
    });
  }

  static async attach(engine: Dockerode, containerId: string, nodeId: string, stdout: ChunkSink, stderr: ChunkSink): Promise<TaskStdio> {
    const container = engine.getContainer(containerId);
    try {
      const stream = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as Duplex;
      return new TaskStdio(stream, container, stdout, stderr);
    } catch (error) {
      throw new SandrunError('engine_unavailable', `could not attach to the run's container on swarm node ${nodeId}: ${errorMessage(error)}`, undefined, { cause: error });
    }
  }

  /** The error that broke the stream before the container ended it (the node's engine went away), if any. */
  get broken(): Error | undefined {
    return this.brokenBy;
  }

  /** Writes a line on the wrapper's stdin; false when the stream is already gone. */
  writeLine(line: string): boolean {
    if (this.stream.destroyed || !this.stream.writable) return false;
    this.stream.write(`${line}\n`);
    return true;
  }

  close(): void {
    this.stream.destroy();
  }
}
