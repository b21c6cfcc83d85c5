// Splits the engine's multiplexed attach/exec stream into stdout and stderr without copying.
//
// Each frame is an 8-byte header (stream type, three zero bytes, payload length as uint32 big-endian) and
// its payload. docker-modem's demuxStream concatenates every incoming chunk onto a pending buffer, which
// copies a flooding command's output over and over; here payloads are handed on as views of the incoming
// chunks, so a sink that keeps bytes must copy them (LogCapture does).
export type ChunkSink = (chunk: Buffer) => void;

const HEADER_BYTES = 8;
const STDERR = 2;

export class StreamDemux {
  private readonly header = Buffer.alloc(HEADER_BYTES);
  private headerFill = 0;
  private payloadLeft = 0;
  private sink: ChunkSink;
  /** Set once a header is not a frame header: the stream is not multiplexed, everything else is stdout. */
  private raw = false;

  constructor(
    private readonly stdout: ChunkSink,
    private readonly stderr: ChunkSink,
  ) {
    this.sink = stdout;
  }

  push(chunk: Buffer): void {
    if (this.raw) return this.stdout(chunk);
    let offset = 0;
    while (offset < chunk.length) {
      if (this.payloadLeft === 0) {
        const take = Math.min(HEADER_BYTES - this.headerFill, chunk.length - offset);
        chunk.copy(this.header, this.headerFill, offset, offset + take);
        this.headerFill += take;
        offset += take;
        if (this.headerFill < HEADER_BYTES) return;
        this.headerFill = 0;
        const type = this.header[0]!;
        if (type > STDERR || this.header[1] !== 0 || this.header[2] !== 0 || this.header[3] !== 0) {
          this.raw = true;
          this.stdout(Buffer.from(this.header));
          if (offset < chunk.length) this.stdout(chunk.subarray(offset));
          return;
        }
        this.sink = type === STDERR ? this.stderr : this.stdout;
        this.payloadLeft = this.header.readUInt32BE(4);
        continue;
      }
      const take = Math.min(this.payloadLeft, chunk.length - offset);
      this.sink(chunk.subarray(offset, offset + take));
      this.payloadLeft -= take;
      offset += take;
    }
  }
}
