// A git host over SSH on loopback for tests (ssh2's server, git upload-pack behind it): records who offered which key.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server, utils, type Connection } from 'ssh2';

export interface SshKeyPair {
  privateKey: string;
  /** The public key in authorized_keys form ("ssh-ed25519 AAAA..."). */
  publicKey: string;
}

/** A fresh ed25519 key pair without a passphrase, made by ssh-keygen. */
export function makeSshKey(): SshKeyPair {
  const dir = mkdtempSync(join(tmpdir(), 'sandrun-sshkey-'));
  try {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'sandrun-test', '-f', join(dir, 'key')]);
    return { privateKey: readFileSync(join(dir, 'key'), 'utf8'), publicKey: readFileSync(join(dir, 'key.pub'), 'utf8').trim() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface SshGitServer {
  port: number;
  /** The server's host key, as known_hosts names it ("ssh-ed25519 AAAA..."). */
  hostKey: string;
  connections: () => number;
  /** The public keys (authorized_keys form, without comment) clients offered, accepted or not. */
  offeredKeys: string[];
  close(): Promise<void>;
}

/** Serves `bareRepo` at any path to whoever signs in as `git` with `authorizedKey`. */
export async function startSshGitServer(bareRepo: string, authorizedKey: string): Promise<SshGitServer> {
  const hostKey = makeSshKey();
  const allowed = utils.parseKey(authorizedKey);
  if (allowed instanceof Error) throw allowed;
  const offeredKeys: string[] = [];
  const clients = new Set<Connection>();
  let connections = 0;
  const server = new Server({ hostKeys: [hostKey.privateKey] }, (client) => {
    connections += 1;
    clients.add(client);
    client.on('error', () => undefined);
    client.on('close', () => clients.delete(client));
    client.on('authentication', (context) => {
      if (context.method !== 'publickey') {
        context.reject(['publickey']);
        return;
      }
      offeredKeys.push(`${context.key.algo} ${context.key.data.toString('base64')}`);
      const matches = context.username === 'git' && context.key.algo === allowed.type && context.key.data.equals(allowed.getPublicSSH());
      if (!matches) {
        context.reject(['publickey']);
        return;
      }
      // The first round only asks whether the key would do; the second carries the signature.
      if (context.signature && !allowed.verify(context.blob ?? Buffer.alloc(0), context.signature, context.hashAlgo)) {
        context.reject(['publickey']);
        return;
      }
      context.accept();
    });
    client.on('session', (acceptSession) => {
      const session = acceptSession();
      session.on('env', (accept) => accept?.());
      session.on('exec', (accept, _reject, info) => {
        const stream = accept();
        if (!/^git-upload-pack '?[^']*'?$/.test(info.command)) {
          stream.stderr.write(`unsupported command ${info.command}\n`);
          stream.exit(1);
          stream.end();
          return;
        }
        const pack = spawn('git', ['upload-pack', bareRepo], { stdio: ['pipe', 'pipe', 'pipe'] });
        stream.pipe(pack.stdin);
        pack.stdout.pipe(stream, { end: false });
        pack.stderr.pipe(stream.stderr);
        pack.on('close', (code) => {
          stream.exit(code ?? 1);
          stream.end();
        });
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    hostKey: hostKey.publicKey.split(' ').slice(0, 2).join(' '),
    connections: () => connections,
    offeredKeys,
    async close() {
      for (const client of clients) client.end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
