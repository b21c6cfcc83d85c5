// What a run taken over from a dead server moved through that server's egress proxy (SPEC §11, §13): the run's grant ended and its counts read by execs in the proxy, which outlives its server and mounts its egress directory.
//
// The adopting server cannot read that directory itself: it is in the dead server's data directory, on a disk (or in
// a container) of its own. The proxy's container is on this engine, though, and keeps running until nothing of its
// server's runs is left (egress-networks.ts). The files are written by the servers, all of one host's run as one user
// (the compose file's), so the execs run as this server's.
import type Dockerode from 'dockerode';
import { SandrunError } from '../../errors.ts';
import { countsFileSchema, countsPath, grantPath, type CountsFile } from '../../egress/egress-files.ts';
import { EGRESS_CLOSE_WAIT_MS, usageOf, type EgressUsage } from '../../egress/egress-ledger.ts';
import { delay } from '../../delay.ts';
import { execRead } from '../exec-process.ts';
import { DIR_IN_CONTAINER, egressProxyName } from './egress-spec.ts';

const POLL_MS = 200;
const COUNTS_MAX_BYTES = 256 * 1024;

/**
 * Ends the run's grant in the dead instance's proxy (it then cuts what the run still holds and writes its counts one
 * last time), waits as a run's own server would for that write, and returns the counts; their file goes too. Throws when the
 * proxy cannot be reached or the grant not ended: the caller's result then goes without counts (SPEC §11).
 */
export async function closeForeignGrants(docker: Dockerode, instanceId: string, runId: string): Promise<EgressUsage[]> {
  const proxy = docker.getContainer(egressProxyName(instanceId));
  const user = String(process.getuid?.() ?? 0);
  const exec = async (cmd: string[], stdout: (chunk: Buffer) => void = () => undefined) => {
    const read = await execRead(proxy, cmd, user, stdout);
    if (!read.ok) throw new SandrunError('internal', `${cmd.join(' ')} in the egress proxy of instance ${instanceId}: ${read.complaint}`);
  };
  const counts = async (): Promise<CountsFile | undefined> => {
    const chunks: Buffer[] = [];
    let size = 0;
    const path = countsPath(DIR_IN_CONTAINER, runId);
    // No file: the proxy never admitted a connection of the run.
    await exec(['sh', '-c', '[ ! -e "$1" ] || head -c "$2" "$1"', 'sandrun', path, String(COUNTS_MAX_BYTES)], (chunk) => {
      size += chunk.length;
      if (size <= COUNTS_MAX_BYTES) chunks.push(Buffer.from(chunk));
    });
    if (size === 0) return undefined;
    return countsFileSchema.parse(JSON.parse(Buffer.concat(chunks).toString('utf8')));
  };
  await exec(['rm', '-f', grantPath(DIR_IN_CONTAINER, runId)]);
  let read = await counts();
  for (const deadline = Date.now() + EGRESS_CLOSE_WAIT_MS; read && !read.closed && Date.now() < deadline; read = await counts()) await delay(POLL_MS);
  await exec(['rm', '-f', countsPath(DIR_IN_CONTAINER, runId)]);
  return usageOf(read);
}
