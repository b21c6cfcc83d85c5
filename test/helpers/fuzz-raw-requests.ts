// Requests node:http refuses to send (bad framing, bytes outside ASCII, oversized or folded headers), written as raw bytes to a fresh socket.
import fc from 'fast-check';
import { connect } from 'node:net';
import type { Answer, Credentials, FuzzRequest } from './fuzz-requests.ts';

/** A raw request that leaves the server waiting (a body shorter than announced) is given up after this. */
const RAW_TIMEOUT_MS = 5_000;

export function rawRequests(credentials: Credentials): fc.Arbitrary<FuzzRequest> {
  const [auth] = credentials.valid;
  const json = '{"scope":"project","mode":"async","project_name":"no-such-project"}';
  const cases: [string, string | Buffer, boolean][] = [
    ['NUL in the path', 'GET /v1/runs/\u0000x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n', false],
    ['space in the path', 'GET /v1/runs/a b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n', false],
    ['non-UTF-8 bytes in the path', Buffer.concat([Buffer.from('GET /v1/runs/'), Buffer.from([0xff, 0xfe, 0xc0, 0xaf]), Buffer.from(' HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n')]), false],
    ['an unknown method', 'FROB /v1/runs HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n', false],
    ['CONNECT', 'CONNECT 127.0.0.1:1 HTTP/1.1\r\nHost: h\r\n\r\n', false],
    ['Content-Length: abc', `POST /v1/runs HTTP/1.1\r\nHost: h\r\nAuthorization: ${auth}\r\nContent-Type: application/json\r\nContent-Length: abc\r\nConnection: close\r\n\r\n${json}`, false],
    ['a negative Content-Length', `POST /v1/runs HTTP/1.1\r\nHost: h\r\nAuthorization: ${auth}\r\nContent-Length: -1\r\nConnection: close\r\n\r\n`, false],
    ['two different Content-Lengths', `POST /v1/runs HTTP/1.1\r\nHost: h\r\nAuthorization: ${auth}\r\nContent-Type: application/json\r\nContent-Length: 3\r\nContent-Length: ${json.length}\r\nConnection: close\r\n\r\n${json}`, false],
    ['Content-Length and Transfer-Encoding', `POST /v1/runs HTTP/1.1\r\nHost: h\r\nAuthorization: ${auth}\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n`, false],
    ['a bad chunk size', `POST /v1/runs HTTP/1.1\r\nHost: h\r\nAuthorization: ${auth}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n`, false],
    ['a body shorter than its Content-Length', `POST /v1/runs HTTP/1.1\r\nHost: h\r\nAuthorization: ${auth}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n${json}`, true],
    ['an MCP body shorter than its Content-Length', `POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${auth}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n[{"jsonrpc":"2.0"`, true],
    ['headers cut off', `GET /v1/runs HTTP/1.1\r\nHost: h\r\nAuthorization: ${auth}\r\nX-Half`, true],
    ['a header without a colon', 'GET /healthz HTTP/1.1\r\nHost: h\r\nno colon here\r\nConnection: close\r\n\r\n', false],
    ['a NUL in a header', `GET /v1/runs HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer sr_\u0000x\r\nConnection: close\r\n\r\n`, false],
    ['an obsolete folded header', `GET /v1/runs HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer\r\n sr_x\r\nConnection: close\r\n\r\n`, false],
    ['32 KB of headers', `GET /v1/runs HTTP/1.1\r\nHost: h\r\n${'X-Pad: '.concat('p'.repeat(1000), '\r\n').repeat(32)}Connection: close\r\n\r\n`, false],
    ['2000 small headers', `GET /healthz HTTP/1.1\r\nHost: h\r\n${'X-A: b\r\n'.repeat(2000)}Connection: close\r\n\r\n`, false],
    ['HTTP/1.0 without Host', 'GET /v1/runs HTTP/1.0\r\n\r\n', false],
    ['HTTP/2.0 in an HTTP/1 request line', 'GET /healthz HTTP/2.0\r\nHost: h\r\n\r\n', false],
    ['an absolute-form target', `POST http://evil.example/v1/runs HTTP/1.1\r\nHost: evil.example\r\nAuthorization: ${auth}\r\nContent-Type: application/json\r\nContent-Length: ${json.length}\r\nConnection: close\r\n\r\n${json}`, false],
    ['an asterisk target', 'OPTIONS * HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n', false],
    ['a pipelined good and bad request', `GET /healthz HTTP/1.1\r\nHost: h\r\n\r\nGET /v1/runs/%ZZ HTTP/1.1\r\nHost: h\r\nAuthorization: ${auth}\r\nConnection: close\r\n\r\n`, false],
    ['garbage', '\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003 TLS hello to a plain port\r\n\r\n', false],
  ];
  return fc.constantFrom(...cases).map(([label, bytes, halfClose]) => ({ kind: 'raw' as const, label, halfClose, bytes: () => Buffer.from(bytes) }));
}

export function sendRaw(port: number, request: Extract<FuzzRequest, { kind: 'raw' }>): Promise<Answer> {
  return new Promise((resolve) => {
    let head = Buffer.alloc(0);
    const socket = connect(port, '127.0.0.1');
    socket.setTimeout(RAW_TIMEOUT_MS, () => socket.destroy());
    socket.on('data', (chunk: Buffer) => {
      if (head.length < 64) head = Buffer.concat([head, chunk]).subarray(0, 64);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head.toString('latin1'))?.[1];
      resolve(status ? { status: Number(status) } : { error: 'no answer (allowed for a raw request)' });
    });
    socket.write(request.bytes());
    if (request.halfClose) socket.end();
  });
}
