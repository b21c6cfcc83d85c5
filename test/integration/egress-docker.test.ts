// Egress on the real engine (SPEC §11): the proxy in its container, a run's own network to it, and test servers in containers this test makes.
import Dockerode from 'dockerode';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EgressLedger } from '../../src/egress/egress-ledger.ts';
import { startDestinationContainer } from '../helpers/egress-destinations.ts';
import { EgressProxySupervisor } from '../../src/sandbox/docker/egress-proxy-supervisor.ts';
import { EGRESS_PROXY_ALIAS, EGRESS_PROXY_PORT, egressOutboundNetworkName, egressProxyName, egressRunNetworkName } from '../../src/sandbox/docker/egress-spec.ts';

const IMAGE = 'sandrun/node:18';
const PROGRAM = join(import.meta.dirname, '../../dist/egress-proxy.mjs');
/** Labels this test's own containers (never sandrun.managed: they are not a server's). */
const TEST_LABEL = 'sandrun.egress-test';

/**
 * What a run does, in a container on its egress network: each probe is tried and its outcome printed as JSON. Through the
 * proxy (CONNECT and absolute-URI GET, with the credential of HTTP_PROXY) and directly (no proxy).
 */
const CLIENT_SCRIPT = `
const http = require('http');
const net = require('net');
const proxy = new URL(process.env.HTTP_PROXY);
const auth = 'Basic ' + Buffer.from(decodeURIComponent(proxy.username) + ':' + decodeURIComponent(proxy.password)).toString('base64');
const opts = { host: proxy.hostname, port: Number(proxy.port) };
function tunnel(target) {
  return new Promise((resolve) => {
    const req = http.request({ ...opts, method: 'CONNECT', path: target, headers: { 'proxy-authorization': auth } });
    req.on('connect', (res, socket) => {
      if (res.statusCode !== 200) { socket.destroy(); return resolve({ status: res.statusCode }); }
      const host = target.split(':')[0];
      socket.write('GET / HTTP/1.0\\r\\nHost: ' + host + '\\r\\n\\r\\n');
      let body = '';
      socket.on('data', (d) => (body += d));
      socket.on('end', () => resolve({ status: 200, body: body.split('\\r\\n\\r\\n')[1] }));
      socket.on('error', (e) => resolve({ status: 200, error: e.code }));
    });
    req.on('error', (e) => resolve({ error: e.code }));
    req.end();
  });
}
function get(url) {
  return new Promise((resolve) => {
    const req = http.get({ ...opts, path: url, headers: { 'proxy-authorization': auth } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', (e) => resolve({ error: e.code }));
  });
}
function lookup(name) {
  return new Promise((resolve) => require('dns').lookup(name, (error, address) => resolve(error ? { error: error.code } : { address })));
}
function direct(host, port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 3000 });
    socket.on('connect', () => { socket.destroy(); resolve({ connected: true }); });
    socket.on('timeout', () => { socket.destroy(); resolve({ connected: false, error: 'timeout' }); });
    socket.on('error', (e) => resolve({ connected: false, error: e.code }));
  });
}
(async () => {
  const probes = JSON.parse(process.env.PROBES);
  const results = {};
  for (const [name, probe] of Object.entries(probes)) {
    if (probe.kind === 'tunnel') results[name] = await tunnel(probe.target);
    else if (probe.kind === 'get') results[name] = await get(probe.url);
    else if (probe.kind === 'lookup') results[name] = await lookup(probe.name);
    else results[name] = await direct(probe.host, probe.port);
  }
  console.log(JSON.stringify(results));
})();
`;

type Probe = { kind: 'tunnel'; target: string } | { kind: 'get'; url: string } | { kind: 'direct'; host: string; port: number } | { kind: 'lookup'; name: string };

/** A DNS server that answers nothing and prints each query it receives: where a run's forwarded lookups would arrive. */
const DNS_SCRIPT = `
require('dgram').createSocket('udp4').on('message', (msg, from) => console.log('query from ' + from.address)).bind(53);
`;

describe('egress through the proxy container', () => {
  const docker = new Dockerode();
  const instanceId = `egresstest${randomUUID().slice(0, 8)}`;
  const dir = mkdtempSync(join(tmpdir(), 'sandrun-egress-docker-'));
  const supervisor = new EgressProxySupervisor(docker, { instanceId, image: IMAGE, programPath: PROGRAM, dir });
  const ledger = new EgressLedger({ dir, proxyAddress: `${EGRESS_PROXY_ALIAS}:${EGRESS_PROXY_PORT}`, closeWaitMs: 5_000 });
  const servers = { allowed: `egress-allowed-${instanceId}`, other: `egress-other-${instanceId}` };
  const addresses: Record<string, string> = {};
  let outboundSubnet = '';
  let outboundGateway = '';
  /** A service of the engine host, on all its addresses: what a run must not find through any network it is on. */
  let hostService: Server;
  let hostPort = 0;
  const hostConnections: string[] = [];

  async function startServer(name: string): Promise<void> {
    addresses[name] = await startDestinationContainer(docker, name, egressOutboundNetworkName(instanceId), { [TEST_LABEL]: instanceId });
  }

  /** Runs the probes in a container on the run's egress network, as a run would; returns each probe's outcome. */
  async function probeAs(
    runId: string,
    network: string,
    env: Record<string, string>,
    probes: Record<string, Probe>,
    dns: string[] = [],
  ): Promise<Record<string, Record<string, unknown>>> {
    const container = await docker.createContainer({
      name: `egress-client-${runId}`,
      Image: IMAGE,
      Cmd: ['node', '-e', CLIENT_SCRIPT],
      Env: [...Object.entries(env).map(([key, value]) => `${key}=${value}`), `PROBES=${JSON.stringify(probes)}`],
      User: '10001:10001',
      Labels: { [TEST_LABEL]: instanceId },
      HostConfig: { NetworkMode: network, CapDrop: ['ALL'], ReadonlyRootfs: true, SecurityOpt: ['no-new-privileges:true'], ...(dns.length > 0 ? { Dns: dns } : {}) },
    });
    try {
      await container.start();
      await container.wait();
      const logs = (await container.logs({ stdout: true, stderr: true })).toString('utf8');
      const line = logs.split('\n').find((text) => text.includes('{'));
      if (!line) throw new Error(`the client printed no result: ${logs}`);
      return JSON.parse(line.slice(line.indexOf('{'))) as Record<string, Record<string, unknown>>;
    } finally {
      await container.remove({ force: true });
    }
  }

  beforeAll(async () => {
    // scripts/prepare.sh builds it before the tests: its absence is a broken checkout, not a reason to skip.
    expect(existsSync(PROGRAM), 'dist/egress-proxy.mjs (node scripts/build.js)').toBe(true);
    hostService = createServer((socket) => {
      hostConnections.push(String(socket.remoteAddress));
      socket.destroy();
    });
    await new Promise<void>((resolve) => hostService.listen(0, '0.0.0.0', resolve));
    hostPort = (hostService.address() as AddressInfo).port;
    await supervisor.ensureRunning();
    const outbound = await docker.getNetwork(egressOutboundNetworkName(instanceId)).inspect();
    const ipam = outbound.IPAM?.Config?.[0];
    if (!ipam?.Subnet || !ipam.Gateway) throw new Error(`the outbound network has no IPv4 range: ${JSON.stringify(outbound.IPAM)}`);
    outboundSubnet = ipam.Subnet;
    outboundGateway = ipam.Gateway;
    await startServer(servers.allowed);
    await startServer(servers.other);
  });

  afterAll(async () => {
    hostService?.close();
    const mine = await docker.listContainers({ all: true, filters: { label: [`${TEST_LABEL}=${instanceId}`] } });
    await Promise.all(mine.map((container) => docker.getContainer(container.Id).remove({ force: true })));
    await supervisor.sweep(Date.now());
    await supervisor.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reaches exactly the granted host:port, nothing else, nothing directly, and counts it', async () => {
    const runId = randomUUID();
    const network = await supervisor.attach(runId);
    try {
      const ipam = (await docker.getNetwork(network).inspect()).IPAM?.Config?.[0];
      const runGateway = ipam?.Gateway ?? '';
      expect(runGateway, 'the run network\'s gateway address').not.toBe('');
      // The operator's rule for this test: the outbound network's range at 8080 (private space, named).
      const env = ledger.open(runId, [{ host: servers.allowed, port: 8080, privateRanges: [outboundSubnet] }]);
      const results = await probeAs(runId, network, env, {
        granted: { kind: 'tunnel', target: `${servers.allowed}:8080` },
        grantedPlain: { kind: 'get', url: `http://${servers.allowed}:8080/` },
        otherPort: { kind: 'tunnel', target: `${servers.allowed}:8081` },
        otherHost: { kind: 'tunnel', target: `${servers.other}:8080` },
        byAddress: { kind: 'tunnel', target: `${addresses[servers.allowed]}:8080` },
        directByAddress: { kind: 'direct', host: addresses[servers.allowed]!, port: 8080 },
        directOther: { kind: 'direct', host: addresses[servers.other]!, port: 8080 },
        outboundGateway: { kind: 'direct', host: outboundGateway, port: hostPort },
        runGateway: { kind: 'direct', host: runGateway, port: hostPort },
        hostThroughProxy: { kind: 'tunnel', target: `${outboundGateway}:${hostPort}` },
      });
      console.log(JSON.stringify(results));
      expect(results.granted, 'CONNECT to the granted pair').toEqual({ status: 200, body: `${servers.allowed}:8080` });
      expect(results.grantedPlain, 'a plain GET of the granted pair').toEqual({ status: 200, body: `${servers.allowed}:8080` });
      expect(results.otherPort?.status, 'the same server on another port').toBe(403);
      expect(results.otherHost?.status, 'another server').toBe(403);
      expect(results.byAddress?.status, 'the granted server by address').toBe(403);
      expect(results.directByAddress?.connected, `a direct connection to the granted server (${JSON.stringify(results.directByAddress)})`).toBe(false);
      expect(results.directOther?.connected, 'a direct connection to another server').toBe(false);
      expect(results.outboundGateway?.connected, 'the engine host, at the outbound network\'s gateway').toBe(false);
      expect(results.runGateway?.connected, 'the engine host, at the run network\'s gateway').toBe(false);
      expect(results.hostThroughProxy?.status, 'the engine host through the proxy').toBe(403);
      expect(hostConnections, 'connections the engine host\'s service received').toEqual([]);
    } finally {
      const usage = await ledger.close(runId);
      await supervisor.detach(runId);
      expect(usage).toHaveLength(1);
      expect(usage[0]).toMatchObject({ host: servers.allowed, port: 8080 });
      expect(usage[0]!.bytes_in, 'bytes in from the granted server').toBeGreaterThan(0);
      expect(usage[0]!.bytes_out).toBeGreaterThan(0);
    }
  });

  it('a run\'s network holds only the run and the proxy; the engine host has no address on it', async () => {
    const runId = randomUUID();
    const network = await supervisor.attach(runId);
    try {
      const info = await docker.getNetwork(network).inspect();
      expect(info.Internal).toBe(true);
      expect(Object.values(info.Containers ?? {}).map((member: { Name: string }) => member.Name)).toEqual([egressProxyName(instanceId)]);
      expect(info.Options?.['com.docker.network.bridge.inhibit_ipv4']).toBe('true');
    } finally {
      await supervisor.detach(runId);
    }
  });

  it('the sweep removes a run network no container uses, and leaves one in use and one just made', async () => {
    const [unused, inUse, fresh] = [randomUUID(), randomUUID(), randomUUID()];
    await supervisor.attach(unused);
    const network = await supervisor.attach(inUse);
    const member = await docker.createContainer({ name: `egress-member-${inUse}`, Image: IMAGE, Cmd: ['sleep', '60'], Labels: { [TEST_LABEL]: instanceId }, User: '10001:10001', HostConfig: { NetworkMode: network } });
    await member.start();
    try {
      const bornBefore = Date.now() + 1_000;
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      await supervisor.attach(fresh);
      expect(await supervisor.sweep(bornBefore), 'networks removed').toBe(1);
      const names = (await docker.listNetworks()).map((listed) => listed.Name);
      expect(names).not.toContain(egressRunNetworkName(unused));
      expect(names).toContain(egressRunNetworkName(inUse));
      expect(names).toContain(egressRunNetworkName(fresh));
    } finally {
      await member.remove({ force: true });
      await supervisor.detach(inUse);
      await supervisor.detach(fresh);
    }
  });

  it('a run\'s name lookups go no further than its network: a resolver elsewhere receives none of them', async () => {
    // The resolver a run's engine DNS would forward to: in a test container on the outbound network.
    const resolver = await docker.createContainer({
      name: `egress-dns-${instanceId}`,
      Image: IMAGE,
      Cmd: ['node', '-e', DNS_SCRIPT],
      Labels: { [TEST_LABEL]: instanceId },
      HostConfig: { NetworkMode: egressOutboundNetworkName(instanceId), ReadonlyRootfs: true },
    });
    await resolver.start();
    const resolverAddress = (await resolver.inspect()).NetworkSettings.Networks[egressOutboundNetworkName(instanceId)]!.IPAddress;
    const runId = randomUUID();
    const network = await supervisor.attach(runId);
    try {
      const results = await probeAs(runId, network, { HTTP_PROXY: 'http://x:y@egress-proxy:3128' }, { proxy: { kind: 'lookup', name: EGRESS_PROXY_ALIAS }, outside: { kind: 'lookup', name: `exfiltrate.${instanceId}.example` } }, [resolverAddress]);
      expect(results.proxy?.address, 'the proxy\'s name resolves on the run\'s network').toMatch(/^\d+\.\d+\.\d+\.\d+$/);
      expect(results.outside?.address, 'an outside name').toBeUndefined();
      const logs = (await resolver.logs({ stdout: true, stderr: true })).toString('utf8');
      expect(logs, 'queries the resolver received').not.toContain('query from');
    } finally {
      await supervisor.detach(runId);
    }
  });

  it('is restarted when it dies; the run\'s connection works again', async () => {
    const proxy = docker.getContainer(egressProxyName(instanceId));
    const before = await proxy.inspect();
    // The proxy's own user kills every process it has, node included: the container exits as on a crash.
    const exec = await proxy.exec({ Cmd: ['sh', '-c', 'kill -9 -1'], User: '10001:10001' });
    await exec.start({});
    const deadline = Date.now() + 30_000;
    for (;;) {
      const info = await proxy.inspect();
      if (info.RestartCount > before.RestartCount && info.State.Running) break;
      if (Date.now() > deadline) throw new Error(`the proxy was not restarted: ${JSON.stringify(info.State)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const runId = randomUUID();
    const network = await supervisor.attach(runId);
    try {
      const env = ledger.open(runId, [{ host: servers.allowed, port: 8080, privateRanges: [outboundSubnet] }]);
      const results = await probeAs(runId, network, env, { granted: { kind: 'tunnel', target: `${servers.allowed}:8080` } });
      expect(results.granted).toEqual({ status: 200, body: `${servers.allowed}:8080` });
    } finally {
      await ledger.close(runId);
      await supervisor.detach(runId);
    }
  });
});
