// A spinner with elapsed time on stderr while a sync run waits; only for a person at a terminal.
import type { Writer } from './terminal.ts';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/** Starts drawing `label` with a spinner and the seconds since start; the returned function erases it. */
export function startSpinner(stream: Writer, label: string, enabled: boolean, intervalMs = 100): () => void {
  if (!enabled) return () => {};
  const started = performance.now();
  let frame = 0;
  const draw = () => {
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    stream.write(`\r\u001b[2K${FRAMES[frame++ % FRAMES.length]} ${label} ${seconds}s`);
  };
  draw();
  const timer = setInterval(draw, intervalMs);
  return () => {
    clearInterval(timer);
    stream.write('\r\u001b[2K');
  };
}
