// A container's state as its engine reports it, or undefined once the container is gone.
import type Dockerode from 'dockerode';
import { engineError, isNotFound } from './engine-errors.ts';

/** The container's state; undefined when the engine no longer knows it. Any other failure is the engine's. */
export async function inspectState(container: Dockerode.Container): Promise<Dockerode.ContainerInspectInfo['State'] | undefined> {
  try {
    return (await container.inspect()).State;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw engineError(error, `inspecting container ${container.id.slice(0, 12)}`);
  }
}
