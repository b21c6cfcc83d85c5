// The swarm backend's hardening parity on a real 3-node swarm: every node checked before the first run, tmpfs flags, TLS to the engines, workspace images removed when idle.
import Dockerode from 'dockerode';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect as connectUnix, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SandboxSpec } from '../../src/sandbox/backend.ts';
import { assertNodeHardened, serviceFeatures, type NodeFacts } from '../../src/sandbox/swarm/node-hardening.ts';
import { readNodeFacts } from '../../src/sandbox/swarm/node-probe.ts';
import { SwarmBackend, type SwarmBackendSettings } from '../../src/sandbox/swarm/swarm-backend.ts';
import { swarmCluster } from '../helpers/backends.ts';
import type { SharedCluster } from '../helpers/swarm-cluster.ts';

const IMAGE = 'sandrun/python:3.11';
// The test run's one shared cluster (test/global-setup.ts), started on first use.
const shared = await swarmCluster();
const cannotRun = 'unavailable' in shared ? shared.unavailable : undefined;
if (cannotRun) console.warn(`swarm hardening tests skipped: ${cannotRun}`);

let cluster: SharedCluster;
let engines: Dockerode[];
let hosts: string[];
let root: string;
let workspace: string;
const backends: SwarmBackend[] = [];

function backendWith(overrides: Partial<SwarmBackendSettings> = {}): { backend: SwarmBackend; instanceId: string } {
  const instanceId = `test-${randomUUID()}`;
  const backend = new SwarmBackend({
    managerHosts: [hosts[0]!],
    nodeHosts: hosts,
    workDir: join(root, `images-${instanceId}`),
    instanceId,
    runtime: 'runc',
    engineCallTimeoutMs: 30_000,
    tmpMb: 64,
    outputsCapBytes: 1024 * 1024,
    outputsMaxEntries: 1000,
    fileSizeMb: 64,
    openFiles: 1024,
    logCapBytes: 64 * 1024,
    ...overrides,
  });
  backends.push(backend);
  return { backend, instanceId };
}

function spec(command: string[], overrides: Partial<SandboxSpec> = {}): SandboxSpec {
  return {
    runId: randomUUID(),
    image: IMAGE,
    command,
    workspaceDir: workspace,
    parameters: {},
    env: {},
    limits: { timeoutSeconds: 30, memoryMb: 128, cpus: 1, pids: 64 },
    ...overrides,
  };
}

beforeAll(async () => {
  if (cannotRun) return;
  cluster = shared as SharedCluster;
  root = await mkdtemp(join(tmpdir(), 'sandrun-swarm-hardening-'));
  await chmod(root, 0o755);
  workspace = join(root, 'workspace');
  await mkdir(workspace, { mode: 0o755 });
  await writeFile(join(workspace, 'hello.py'), 'print("hello")\n');
  hosts = cluster.sockets.map((socket) => `unix://${socket}`);
  engines = cluster.sockets.map((socketPath) => new Dockerode({ socketPath }));
}, 300_000);

afterAll(async () => {
  if (cannotRun) return;
  for (const backend of backends) await backend.close().catch(() => undefined);
  if (root) await rm(root, { recursive: true, force: true });
}, 120_000);

describe.skipIf(Boolean(cannotRun))('hardening parity of the swarm backend', () => {
  it("checks every node's engine before the first run and runs on a cluster that has every setting", async () => {
    const { backend } = backendWith();
    const result = await backend.run(spec(['python', 'hello.py']));
    expect(`${result.exitCode} ${result.stdout.text}`, result.stderr.text).toBe('0 hello\n');
  });

  it('refuses to run when the nodes do not use the configured runtime, naming the node and the setting', async () => {
    const { backend } = backendWith({ runtime: 'runsc' });
    const refused = await backend.run(spec(['python', 'hello.py'])).then(
      () => undefined,
      (error: Error & { code?: string }) => error,
    );
    expect(refused?.code).toBe('engine_unavailable');
    expect(refused?.message).toMatch(/swarm node \S+ \(\S+ at unix:\/\/\S+\).*default runtime: runc, not the configured SANDRUN_RUNTIME=runsc.*"default-runtime": "runsc"/);
    expect(refused?.message).toMatch(/runtime runsc: not registered/);
  });

  it("refuses a node that lacks any one setting: the real node's facts with that one setting changed", async () => {
    const facts = await readNodeFacts(engines[1]!, 'n2', IMAGE, `test-${randomUUID()}`);
    const legacy = serviceFeatures(['1.41']);
    // The real node passes as it is: what the end-to-end run above relied on.
    expect(() => assertNodeHardened('n2', facts, 'runc', legacy)).not.toThrow();
    expect(facts.probe).toEqual({ noNewPrivs: true, seccompMode: 2, swapTotalKb: 0 });
    const altered: [string, NodeFacts, RegExp][] = [
      ['no-new-privileges off', { ...facts, probe: { ...facts.probe, noNewPrivs: false } }, /no-new-privileges: off by default.*"no-new-privileges": true/],
      ['swap on', { ...facts, probe: { ...facts.probe, swapTotalKb: 2 * 1024 * 1024 } }, /swap: 2048 MiB.*swapoff -a/],
      ['no seccomp', { ...facts, probe: { ...facts.probe, seccompMode: 0 } }, /seccomp: no filter/],
      ['a default bridge', { ...facts, networks: [...facts.networks, { Name: 'bridge', Driver: 'bridge' }] }, /default bridge network: present.*"bridge": "none"/],
      ['no pids cgroup', { ...facts, info: { ...facts.info, PidsLimit: false } }, /pids limits: not supported by its cgroups/],
      ['no memory cgroup', { ...facts, info: { ...facts.info, MemoryLimit: false } }, /memory limits: not supported/],
      ['no CPU quota', { ...facts, info: { ...facts.info, CpuCfsQuota: false } }, /CPU quotas: not supported/],
      ['another default runtime', { ...facts, info: { ...facts.info, DefaultRuntime: 'crun' } }, /default runtime: crun, not the configured SANDRUN_RUNTIME=runc/],
    ];
    for (const [what, changed, message] of altered) {
      expect(() => assertNodeHardened('n2', changed, 'runc', legacy), what).toThrow(message);
      expect(() => assertNodeHardened('n2', changed, 'runc', legacy), what).toThrow(/^swarm node n2 cannot hold runs/);
    }
    // Where the API sets no-new-privileges per service, the daemon's default is not needed.
    expect(() => assertNodeHardened('n2', altered[0]![1], 'runc', serviceFeatures(['1.46']))).not.toThrow();
  });

  it('mounts /tmp and /outputs noexec, nosuid and nodev: a file written there cannot be executed', async () => {
    const { backend } = backendWith();
    const script = [
      'for d in /tmp /outputs; do',
      '  grep " $d " /proc/mounts | cut -d" " -f4 | tr , "\\n" | grep -E "^(noexec|nosuid|nodev)$" | sort | tr "\\n" " "; echo "$d"',
      '  cp /bin/true "$d/true"; "$d/true" || echo "$d exit $?"',
      '  rm -f "$d/true"',
      'done',
    ].join('\n');
    const result = await backend.run(spec(['bash', '-c', script]));
    expect(result.stdout.text).toBe('nodev noexec nosuid /tmp\n/tmp exit 126\nnodev noexec nosuid /outputs\n/outputs exit 126\n');
    expect(result.stderr.text).toMatch(/\/tmp\/true: Permission denied/);
    expect(result.stderr.text).toMatch(/\/outputs\/true: Permission denied/);
  });
});

/** A CA, a certificate for 127.0.0.1 signed by it, and a client certificate; made with openssl in `dir`. */
function makeCertificates(dir: string, name: string): { ca: string; caKey: string; serverCert: string; serverKey: string; clientCert: string; clientKey: string } {
  const f = (file: string) => join(dir, `${name}-${file}`);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', `/CN=${name} test CA`, '-keyout', f('ca-key.pem'), '-out', f('ca.pem'));
  for (const [who, ext] of [
    ['server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'],
    ['client', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', `/CN=${name} ${who}`, '-keyout', f(`${who}-key.pem`), '-out', f(`${who}.csr`));
    execFileSync('sh', ['-c', `printf '%b' "$EXT" > "$OUT"`], { env: { ...process.env, EXT: ext, OUT: f(`${who}.ext`) } });
    openssl('x509', '-req', '-in', f(`${who}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca-key.pem'), '-CAcreateserial', '-days', '2', '-extfile', f(`${who}.ext`), '-out', f(`${who}.pem`));
  }
  return { ca: f('ca.pem'), caKey: f('ca-key.pem'), serverCert: f('server.pem'), serverKey: f('server-key.pem'), clientCert: f('client.pem'), clientKey: f('client-key.pem') };
}

/** A TLS listener on 127.0.0.1 that asks for a client certificate signed by `ca` and forwards to a node's engine socket, as dockerd --tlsverify would serve. */
async function tlsProxy(target: string, files: { ca: string; serverCert: string; serverKey: string }): Promise<{ server: TlsServer; host: string }> {
  const server = createTlsServer(
    { ca: await readFile(files.ca), cert: await readFile(files.serverCert), key: await readFile(files.serverKey), requestCert: true, rejectUnauthorized: true },
    (client) => {
      const upstream: Socket = connectUnix(target);
      client.pipe(upstream).pipe(client);
      const close = () => (client.destroy(), upstream.destroy());
      client.on('error', close);
      upstream.on('error', close);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return { server, host: `tcp+tls://127.0.0.1:${address.port}` };
}

describe.skipIf(Boolean(cannotRun))('TLS to the swarm engines', () => {
  let good: ReturnType<typeof makeCertificates>;
  let other: ReturnType<typeof makeCertificates>;
  const proxies: TlsServer[] = [];
  let tlsHosts: string[];

  beforeAll(async () => {
    const dir = join(root, 'tls');
    await mkdir(dir);
    good = makeCertificates(dir, 'good');
    other = makeCertificates(dir, 'other');
    tlsHosts = [];
    for (const socket of cluster.sockets) {
      const proxy = await tlsProxy(socket, good);
      proxies.push(proxy.server);
      tlsHosts.push(proxy.host);
    }
  });

  afterAll(async () => {
    for (const proxy of proxies) await new Promise((resolve) => proxy.close(resolve));
  });

  const tls = async (files: { ca: string; cert: string; key: string }) => ({ ca: await readFile(files.ca), cert: await readFile(files.cert), key: await readFile(files.key) });

  it('runs through engines reached over tcp+tls with the client certificate', async () => {
    const { backend } = backendWith({ managerHosts: [tlsHosts[0]!], nodeHosts: tlsHosts, tls: await tls({ ca: good.ca, cert: good.clientCert, key: good.clientKey }) });
    await backend.ping();
    const result = await backend.run(spec(['python', 'hello.py']));
    expect(`${result.exitCode} ${result.stdout.text}`, result.stderr.text).toBe('0 hello\n');
  });

  it("is refused by the engine when its client certificate is not signed by the engine's CA, and says so", async () => {
    const { backend } = backendWith({ managerHosts: [tlsHosts[0]!], nodeHosts: tlsHosts, tls: await tls({ ca: good.ca, cert: other.clientCert, key: other.clientKey }) });
    const refused = await backend.ping().then(() => undefined, (error: Error & { code?: string }) => error);
    expect(refused?.code).toBe('engine_unavailable');
    expect(refused?.message).toMatch(new RegExp(`swarm engine ${tlsHosts[0]!.replace(/[+.]/g, '\\$&')} refused sandrun's TLS client certificate .*SANDRUN_SWARM_TLS_CERT_FILE`));
  });

  it("refuses an engine whose certificate is not signed by the configured CA, and says so", async () => {
    const { backend } = backendWith({ managerHosts: [tlsHosts[0]!], nodeHosts: tlsHosts, tls: await tls({ ca: other.ca, cert: good.clientCert, key: good.clientKey }) });
    const refused = await backend.ping().then(() => undefined, (error: Error & { code?: string }) => error);
    expect(refused?.code).toBe('engine_unavailable');
    expect(refused?.message).toMatch(/its TLS certificate is not trusted .*SANDRUN_SWARM_TLS_CA_FILE/);
  });
});

describe.skipIf(Boolean(cannotRun))('workspace images on the nodes', () => {
  async function imagesOn(instanceId: string): Promise<string[]> {
    const lists = await Promise.all(engines.map((engine) => engine.listImages({ filters: { label: ['sandrun.workspace_image=true', `sandrun.instance=${instanceId}`] } })));
    return lists.flatMap((list, node) => list.map((image) => `n${node + 1} ${image.Id}`));
  }

  it('removes a workspace image from every node once no run used it for the idle time, never while a run uses it', async () => {
    const { backend, instanceId } = backendWith({ imageIdleMs: 1000 });
    const first = await backend.run(spec(['python', 'hello.py']));
    expect(first.exitCode).toBe(0);
    const loaded = await imagesOn(instanceId);
    expect(loaded, 'the image is on each of the three nodes').toHaveLength(3);

    // A long run holds the image: sweeps well past the idle time leave it.
    let running = false;
    const long = backend.run(spec(['python', '-c', 'import time; time.sleep(6); print("done")']), { onStart: () => (running = true) });
    for (const deadline = Date.now() + 60_000; !running && Date.now() < deadline; ) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(running).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await backend.reap(() => true);
    expect(await imagesOn(instanceId), 'kept while a run uses it').toEqual(loaded);
    expect((await long).stdout.text).toBe('done\n');

    // Once idle for longer than the idle time, the next sweep removes it everywhere.
    let left = await imagesOn(instanceId);
    for (const deadline = Date.now() + 30_000; left.length > 0 && Date.now() < deadline; left = await imagesOn(instanceId)) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      await backend.reap(() => false);
    }
    expect(left).toEqual([]);

    // A later run loads it again.
    expect((await backend.run(spec(['python', 'hello.py']))).stdout.text).toBe('hello\n');
    expect(await imagesOn(instanceId)).toHaveLength(3);
  });

  it('removes its workspace images from the nodes when closed', async () => {
    const { backend, instanceId } = backendWith();
    expect((await backend.run(spec(['python', 'hello.py']))).exitCode).toBe(0);
    expect(await imagesOn(instanceId)).toHaveLength(3);
    await backend.close();
    expect(await imagesOn(instanceId)).toEqual([]);
  });
});
