// A container's state as its engine reports it, and what a container that stopped unseen says of its run's end.
import type Dockerode from 'dockerode';
import type { SandboxResult } from './backend.ts';
import { engineError, isNotFound } from './engine-errors.ts';
import { stoppedBeforeFinishing, unknownOutcomeOfSignalledExit } from './exit-outcome.ts';
import { containerGone } from './run-lost.ts';

/** The container's state; undefined when the engine no longer knows it. Any other failure is the engine's. */
export async function inspectState(container: Dockerode.Container): Promise<Dockerode.ContainerInspectInfo['State'] | undefined> {
  try {
    return (await container.inspect()).State;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw engineError(error, `inspecting container ${container.id.slice(0, 12)}`);
  }
}

/**
 * A container whose supervisor's end was never seen (its kept log ended without the trailer, or it stopped without
 * writing the exit file): it stopped (OOM, a signal, an operator) before its command finished.
 */
export async function lostEnding(container: Dockerode.Container, runId: string): Promise<Pick<SandboxResult, 'outcome' | 'exitCode'>> {
  const state = await inspectState(container);
  if (!state) throw containerGone(runId, 'its container was removed before its command finished');
  if (state.OOMKilled) return { outcome: { kind: 'oom_killed' }, exitCode: 137 };
  if (state.Running) throw stoppedBeforeFinishing('what it kept of its run ended while it still ran');
  const signalled = unknownOutcomeOfSignalledExit(state.ExitCode);
  if (signalled) throw signalled;
  return { outcome: { kind: 'exited' }, exitCode: state.ExitCode };
}
