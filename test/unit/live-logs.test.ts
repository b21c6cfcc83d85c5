// Live logs for followers: what was captured first, then each chunk as text, then the end.
import { describe, expect, it } from 'vitest';
import { LiveLogs, type LiveLogEvent } from '../../src/runs/live-logs.ts';

describe('LiveLogs', () => {
  it('sends a follower the output so far, then new output, then the end', () => {
    const logs = new LiveLogs(1024);
    logs.open('run-1');
    logs.push('run-1', 'stdout', Buffer.from('before\n'));
    const events: LiveLogEvent[] = [];
    logs.follow('run-1', (event) => events.push(event));
    logs.push('run-1', 'stderr', Buffer.from('after\n'));
    logs.close('run-1');
    expect(events).toEqual([{ type: 'log', stream: 'stdout', text: 'before\n' }, { type: 'log', stream: 'stderr', text: 'after\n' }, { type: 'end' }]);
    expect(logs.follow('run-1', () => {})).toBeUndefined();
  });

  it('never splits a character that arrives in two chunks', () => {
    const logs = new LiveLogs(1024);
    logs.open('run-2');
    const texts: string[] = [];
    logs.follow('run-2', (event) => event.type === 'log' && texts.push(event.text));
    const bytes = Buffer.from('né ✓\n');
    for (const byte of bytes) logs.push('run-2', 'stdout', Buffer.from([byte]));
    expect(texts.join('')).toBe('né ✓\n');
    expect(texts.some((text) => text.includes('\uFFFD'))).toBe(false);
  });
});
