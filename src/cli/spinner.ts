// A spinner with elapsed time on stderr while a sync run or a build waits; only for a person at a terminal.
import type { Writer } from './terminal.ts';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
const ERASE_LINE = '\r\u001b[2K';

export interface Spinner {
  /** Erases the spinner's line, runs `write` (output that goes above it) and draws the spinner again below. */
  above(write: () => void): void;
  /** Erases it for good. */
  stop(): void;
}

/** Starts drawing `label` with a spinner and the seconds since start. */
export function spinner(stream: Writer, label: string, enabled: boolean, intervalMs = 100): Spinner {
  if (!enabled) return { above: (write) => write(), stop: () => {} };
  const started = performance.now();
  let frame = 0;
  const draw = () => {
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    stream.write(`${ERASE_LINE}${FRAMES[frame++ % FRAMES.length]} ${label} ${seconds}s`);
  };
  draw();
  const timer = setInterval(draw, intervalMs);
  return {
    above(write) {
      stream.write(ERASE_LINE);
      write();
      draw();
    },
    stop() {
      clearInterval(timer);
      stream.write(ERASE_LINE);
    },
  };
}

/** Starts drawing `label` with a spinner and the seconds since start; the returned function erases it. */
export function startSpinner(stream: Writer, label: string, enabled: boolean, intervalMs = 100): () => void {
  const drawn = spinner(stream, label, enabled, intervalMs);
  return () => drawn.stop();
}
