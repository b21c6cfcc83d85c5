// SANDRUN_SWARM_*: engine addresses, TLS files and the plain-TCP opt-in, validated at start with messages that name the variable.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';

let dir: string;
const file = (name: string) => join(dir, name);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sandrun-swarm-config-'));
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=test CA', '-keyout', file('ca-key.pem'), '-out', file('ca.pem'));
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=client', '-keyout', file('key.pem'), '-out', file('cert.pem'));
  openssl('genpkey', '-algorithm', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', file('other-key.pem'));
  writeFileSync(file('junk.pem'), 'not a certificate\n');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const swarm = (env: Record<string, string>) => () => loadConfig({ SANDRUN_BACKEND: 'swarm', ...env });
const tlsFiles = () => ({ SANDRUN_SWARM_TLS_CA_FILE: file('ca.pem'), SANDRUN_SWARM_TLS_CERT_FILE: file('cert.pem'), SANDRUN_SWARM_TLS_KEY_FILE: file('key.pem') });

describe('swarm engine addresses', () => {
  it('refuses plain tcp:// to a non-loopback engine unless SANDRUN_SWARM_ALLOW_PLAIN_TCP is set', () => {
    expect(swarm({ SANDRUN_SWARM_HOST: 'tcp://10.0.0.5:2375' })).toThrow(/SANDRUN_SWARM_HOST tcp:\/\/10\.0\.0\.5:2375 is plain TCP to a non-loopback address.*tcp\+tls:\/\/.*SANDRUN_SWARM_ALLOW_PLAIN_TCP=1/);
    expect(swarm({ SANDRUN_SWARM_HOST: 'unix:///run/docker.sock', SANDRUN_SWARM_NODE_HOSTS: 'unix:///run/docker.sock,tcp://node2.example:2375' })).toThrow(
      /SANDRUN_SWARM_NODE_HOSTS tcp:\/\/node2\.example:2375 is plain TCP/,
    );
    const allowed = loadConfig({ SANDRUN_BACKEND: 'swarm', SANDRUN_SWARM_HOST: 'tcp://10.0.0.5:2375', SANDRUN_SWARM_ALLOW_PLAIN_TCP: '1' });
    expect(allowed.backend).toMatchObject({ kind: 'swarm', managerHosts: ['tcp://10.0.0.5:2375'], tls: undefined });
  });

  it('accepts plain tcp:// on loopback and unix sockets without TLS files', () => {
    expect(loadConfig({ SANDRUN_BACKEND: 'swarm', SANDRUN_SWARM_HOST: 'tcp://127.0.0.1:2375', SANDRUN_SWARM_NODE_HOSTS: 'tcp://localhost:2375,tcp://[::1]:2375,unix:///x.sock' }).backend).toMatchObject({
      kind: 'swarm',
      nodeHosts: ['tcp://localhost:2375', 'tcp://[::1]:2375', 'unix:///x.sock'],
      imageIdleMs: 600_000,
    });
  });

  it('refuses an address of another scheme', () => {
    expect(swarm({ SANDRUN_SWARM_HOST: 'http://10.0.0.5:2375' })).toThrow(/SANDRUN_SWARM_HOST\.0: each must be unix:\/\/\/path, tcp\+tls:\/\/host:port or tcp:\/\/host:port/);
  });

  it('takes several managers, in the order they are tried, and every manager as a node unless the nodes are named', () => {
    expect(loadConfig({ SANDRUN_BACKEND: 'swarm', SANDRUN_SWARM_HOST: 'unix:///m1.sock, unix:///m2.sock,unix:///m3.sock' }).backend).toMatchObject({
      managerHosts: ['unix:///m1.sock', 'unix:///m2.sock', 'unix:///m3.sock'],
      nodeHosts: ['unix:///m1.sock', 'unix:///m2.sock', 'unix:///m3.sock'],
    });
    expect(swarm({ SANDRUN_SWARM_HOST: 'unix:///m1.sock,tcp://10.0.0.6:2375' })).toThrow(/SANDRUN_SWARM_HOST tcp:\/\/10\.0\.0\.6:2375 is plain TCP/);
  });
});

describe('swarm TLS files', () => {
  it('reads the CA, certificate and key for tcp+tls:// engines', () => {
    const config = loadConfig({ SANDRUN_BACKEND: 'swarm', SANDRUN_SWARM_HOST: 'tcp+tls://10.0.0.5:2376', ...tlsFiles() });
    expect(config.backend.kind === 'swarm' && config.backend.tls?.cert.toString()).toMatch(/BEGIN CERTIFICATE/);
  });

  it('names each TLS variable that is missing', () => {
    expect(swarm({ SANDRUN_SWARM_HOST: 'tcp+tls://10.0.0.5:2376', SANDRUN_SWARM_TLS_CA_FILE: file('ca.pem') })).toThrow(
      /SANDRUN_SWARM_TLS_CERT_FILE, SANDRUN_SWARM_TLS_KEY_FILE must be set/,
    );
  });

  it('names the variable of a file that cannot be read or does not hold what it should', () => {
    expect(swarm({ SANDRUN_SWARM_HOST: 'tcp+tls://10.0.0.5:2376', ...tlsFiles(), SANDRUN_SWARM_TLS_CA_FILE: file('missing.pem') })).toThrow(/SANDRUN_SWARM_TLS_CA_FILE .*missing\.pem cannot be read/);
    expect(swarm({ SANDRUN_SWARM_HOST: 'tcp+tls://10.0.0.5:2376', ...tlsFiles(), SANDRUN_SWARM_TLS_CERT_FILE: file('junk.pem') })).toThrow(/SANDRUN_SWARM_TLS_CERT_FILE does not hold a PEM certificate/);
    expect(swarm({ SANDRUN_SWARM_HOST: 'tcp+tls://10.0.0.5:2376', ...tlsFiles(), SANDRUN_SWARM_TLS_KEY_FILE: file('other-key.pem') })).toThrow(
      /SANDRUN_SWARM_TLS_KEY_FILE is not the key of the certificate in SANDRUN_SWARM_TLS_CERT_FILE/,
    );
  });

  it('reads the idle time of workspace images', () => {
    expect(loadConfig({ SANDRUN_BACKEND: 'swarm', SANDRUN_SWARM_HOST: 'unix:///x.sock', SANDRUN_SWARM_IMAGE_IDLE_SECONDS: '30' }).backend).toMatchObject({ imageIdleMs: 30_000 });
  });
});
