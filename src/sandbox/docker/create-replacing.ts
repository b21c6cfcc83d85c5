// Creating a container under a name that a previous attempt may have left taken.
import type Dockerode from 'dockerode';

/**
 * Creates a container under its name; a run retried after an engine outage may find its first attempt's container
 * still there, which never started the command, and it is replaced.
 */
export async function createReplacing(docker: Dockerode, options: Dockerode.ContainerCreateOptions): Promise<Dockerode.Container> {
  return docker.createContainer(options).catch(async (error: unknown) => {
    if ((error as { statusCode?: number }).statusCode !== 409) throw error;
    await docker.getContainer(options.name!).remove({ force: true, v: true });
    return docker.createContainer(options);
  });
}
