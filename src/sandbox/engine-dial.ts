// The one shape every dockerode request passes through (its modem's dial), for the modules that wrap it: the engine
// deadline (engine-deadline.ts) and the swarm managers' failover (swarm/manager-failover.ts).
import type Dockerode from 'dockerode';

/** What docker-modem's dial is given by dockerode (the part of it these wrappers read or set). */
export interface DialOptions {
  method: string;
  path: string;
  options?: Record<string, unknown>;
  abortSignal?: AbortSignal;
  /** A body sent as a stream (image load or build, archive upload): it cannot be sent twice. */
  file?: unknown;
}
export type DialCallback = (error: unknown, result?: unknown) => void;
export interface Modem {
  dial(options: DialOptions, callback: DialCallback): void;
}

export function modemOf(docker: Dockerode): Modem {
  return docker.modem as unknown as Modem;
}
