// A unix-socket proxy in front of the Docker engine that a test can cut and restore: an engine outage for one server only.
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { rmSync } from 'node:fs';

export class EngineProxy {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private hanging = false;

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
      for (const [socket, peer] of [[client, engine], [engine, client]] as const) {
        this.sockets.add(socket);
        // One side gone, the other goes too: a caller never waits on a half-open connection.
        socket.on('close', () => (this.sockets.delete(socket), peer.destroy()));
        socket.on('error', () => socket.destroy());
      }
      client.pipe(engine).pipe(client);
    });
    await new Promise<void>((resolve) => server.listen(this.path, resolve));
    this.server = server;
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
