// A unix-socket proxy in front of the Docker engine that a test can cut and restore: an engine outage for one server only.
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { rmSync } from 'node:fs';

export class EngineProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private hanging = false;
  private cut: { pattern: RegExp; before: () => Promise<void>; done: () => void } | undefined;
  private holding: RegExp | undefined;
  private readonly held = new Set<Socket>();
  /** Requests held unanswered by holdRequests() so far. */
  heldCount = 0;

  constructor(
    readonly path: string,
    private readonly target = '/var/run/docker.sock',
  ) {}

  get dockerHost(): string {
    return `unix://${this.path}`;
  }

  /** Accepts connections and never answers, as a wedged engine would; `up()` ends it. */
  async hang(): Promise<void> {
    await this.down();
    this.hanging = true;
    const server = createServer((client) => {
      this.sockets.add(client);
      client.on('close', () => this.sockets.delete(client));
      client.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => server.listen(this.path, resolve));
    this.server = server;
  }

  async up(): Promise<void> {
    if (this.hanging) await this.down();
    this.hanging = false;
    rmSync(this.path, { force: true });
    const server = createServer((client) => {
      const engine = createConnection(this.target);
      // A reply held back by dropAfterReply is passed on before the client's side goes.
      let holding: Promise<void> = Promise.resolve();
      for (const [socket, peer] of [[client, engine], [engine, client]] as const) {
        this.sockets.add(socket);
        // One side gone, the other goes too: a caller never waits on a half-open connection.
        socket.on('close', () => (this.sockets.delete(socket), void holding.then(() => peer.destroy())));
        socket.on('error', () => socket.destroy());
      }
      // Passed on as pipe() would, unless a request on this connection is to be held (holdRequests).
      client.on('data', (chunk: Buffer) => {
        if (this.held.has(client)) return;
        if (this.holding?.test(chunk.toString('latin1', 0, 1024))) {
          this.held.add(client);
          this.heldCount += 1;
          client.on('close', () => this.held.delete(client));
          return;
        }
        if (!engine.write(chunk)) {
          client.pause();
          engine.once('drain', () => client.resume());
        }
      });
      client.on('end', () => engine.end());
      let recent = ''; // the end of the reply so far, so that a match split across chunks is seen
      engine.on('data', (chunk: Buffer) => {
        const cut = this.cut;
        const seen = recent + chunk.toString('latin1');
        recent = seen.slice(-256);
        if (cut && cut.pattern.test(seen)) {
          this.cut = undefined;
          engine.pause();
          holding = cut
            .before()
            .catch(() => undefined)
            .then(() => new Promise<void>((resolve) => client.end(chunk, () => resolve())))
            .then(() => (engine.destroy(), cut.done()));
        } else if (!client.write(chunk)) {
          engine.pause();
          client.once('drain', () => engine.resume());
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(this.path, resolve));
    this.server = server;
  }

  /**
   * Drops the connection that carries the engine's next reply matching the pattern, as a proxy dropping it would:
   * the reply is held until `before` settles, passed on, and then that connection alone is ended. Settles once done.
   */
  dropAfterReply(pattern: RegExp, before: () => Promise<void> = async () => {}): Promise<void> {
    return new Promise((done) => {
      this.cut = { pattern, before, done };
    });
  }

  /**
   * Holds every request whose request line (`DELETE /containers/abc?force=true HTTP/1.1`) matches the pattern: it
   * never reaches the engine and is never answered, as a wedged engine leaves a call; other requests pass.
   */
  holdRequests(pattern: RegExp): void {
    this.holding = pattern;
  }

  /** Passes every request again; connections still held are cut. */
  stopHolding(): void {
    this.holding = undefined;
    for (const socket of this.held) socket.destroy();
    this.held.clear();
  }

  /** Refuses new connections and cuts the open ones, as a stopped engine would. */
  async down(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const socket of this.sockets) socket.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(this.path, { force: true });
  }
}
