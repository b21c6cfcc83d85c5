// A dockerode client for one swarm engine address, over TLS with sandrun's client certificate where the address says tcp+tls.
import Dockerode from 'dockerode';
import { SandrunError, errorMessage } from '../../errors.ts';
import { withEngineDeadline } from '../engine-deadline.ts';
import { parseEngineHost } from './engine-address.ts';

/** PEM contents of SANDRUN_SWARM_TLS_CA_FILE, _CERT_FILE and _KEY_FILE. */
export interface EngineTls {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/** A client of the engine at `host` whose every request has a deadline on its answer (engine-deadline.ts). */
export function engineFor(host: string, tls: EngineTls | undefined, deadlineMs: number): Dockerode {
  return withEngineDeadline(clientFor(host, tls), deadlineMs);
}

function clientFor(host: string, tls: EngineTls | undefined): Dockerode {
  const address = parseEngineHost(host);
  if (!address) throw new SandrunError('invalid_request', `swarm engine address ${host} is not unix:///path, tcp+tls://host:port or tcp://host:port`);
  if (address.kind === 'unix') return new Dockerode({ socketPath: address.path });
  if (!address.tls) return new Dockerode({ host: address.hostname, port: address.port, protocol: 'http' });
  if (!tls) throw new SandrunError('invalid_request', `swarm engine ${host} is tcp+tls: SANDRUN_SWARM_TLS_CA_FILE, SANDRUN_SWARM_TLS_CERT_FILE and SANDRUN_SWARM_TLS_KEY_FILE are required`);
  return new Dockerode({ host: address.hostname, port: address.port, protocol: 'https', ca: tls.ca, cert: tls.cert, key: tls.key });
}

/** OpenSSL's and Node's names for a certificate the client does not trust, and for a handshake the engine refused. */
const UNTRUSTED = /SELF_SIGNED_CERT|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|CERT_UNTRUSTED|CERT_HAS_EXPIRED|ERR_TLS_CERT_ALTNAME_INVALID/;
const REFUSED = /ALERT_(BAD_CERTIFICATE|UNKNOWN_CA|CERTIFICATE_REQUIRED|CERTIFICATE_UNKNOWN|HANDSHAKE_FAILURE|ACCESS_DENIED)|certificate required|unknown ca|bad certificate/i;

/**
 * How an engine that does not accept the client certificate shows, measured against a Node TLS server: with no
 * certificate an alert (CERTIFICATE_REQUIRED); with one from another CA only a reset connection.
 */
const CLOSED = /ECONNRESET|socket hang up|disconnected before secure TLS connection/;

/** A TLS failure said in terms of sandrun's settings; undefined for any other failure. */
export function tlsFailure(error: unknown, host: string): SandrunError | undefined {
  const address = parseEngineHost(host);
  if (address?.kind !== 'tcp' || !address.tls) return undefined;
  const code = (error as { code?: string })?.code ?? '';
  const text = `${code} ${errorMessage(error)}`;
  if (UNTRUSTED.test(text)) {
    return new SandrunError(
      'engine_unavailable',
      `swarm engine ${host}: its TLS certificate is not trusted (${code || errorMessage(error)}): it must be signed by the CA in SANDRUN_SWARM_TLS_CA_FILE and name the host`,
      undefined,
      { cause: error },
    );
  }
  if (REFUSED.test(text) || CLOSED.test(text)) {
    return new SandrunError(
      'engine_unavailable',
      `swarm engine ${host} refused sandrun's TLS client certificate${REFUSED.test(text) ? '' : ' (most likely: it closed the connection right after the handshake)'} (${code || errorMessage(error)}): SANDRUN_SWARM_TLS_CERT_FILE must be signed by the CA the engine's --tlscacert names`,
      undefined,
      { cause: error },
    );
  }
  return undefined;
}
