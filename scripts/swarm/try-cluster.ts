// Manual check of the throw-away cluster: starts it, prints timings and nodes, keeps it up for SECONDS (or until Ctrl-C), tears it down.
// Usage (root): npx tsx scripts/swarm/try-cluster.ts [SECONDS]
import Dockerode from 'dockerode';
import { startSwarmCluster } from './cluster.ts';

const seconds = Number(process.argv[2] ?? '0');
const cluster = await startSwarmCluster({ images: ['sandrun/python:3.11'] });
let waiting: NodeJS.Timeout | undefined;
let wake: (() => void) | undefined;
// Ctrl-C or a kill ends the wait early; the teardown below still runs.
for (const name of ['SIGINT', 'SIGTERM'] as const) process.once(name, () => (clearTimeout(waiting), wake?.()));
try {
  console.log(JSON.stringify({ id: cluster.id, sockets: cluster.sockets, timings: cluster.timings, imageIds: cluster.imageIds }, null, 2));
  const manager = new Dockerode({ socketPath: cluster.sockets[0]! });
  const nodes = (await manager.listNodes()) as { ID: string; Status: { State: string; Addr: string } }[];
  console.log(nodes.map((n) => `${n.ID} ${n.Status.State} ${n.Status.Addr}`).join('\n'));
  await new Promise<void>((resolve) => {
    wake = resolve;
    waiting = setTimeout(resolve, seconds * 1000);
  });
} finally {
  const started = Date.now();
  await cluster.teardown();
  console.log(`teardown ${Date.now() - started} ms`);
}
