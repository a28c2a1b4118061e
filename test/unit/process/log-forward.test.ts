// forwardLevel: the env SYNAPSE_LOG_FORWARD a worker is spawned with, from its logger's level —
// the lowest wire level of the `log` frames that logger keeps (Python leaves the others unsent).
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { forwardLevel } from '../../../src/process/worker.ts';

describe('forwardLevel', () => {
  it.each([
    ['trace', 'debug'],
    ['debug', 'debug'],
    ['info', 'info'],
    ['warn', 'warning'],
    ['error', 'error'],
    ['fatal', 'off'],
    ['silent', 'off'],
  ] as const)('a %s logger → %s', (level, wire) => {
    expect(forwardLevel(pino({ level }))).toBe(wire);
  });

  it('follows a child logger, which is what a worker holds', () => {
    expect(forwardLevel(pino({ level: 'info' }).child({ agent: 'a' }, { level: 'error' }))).toBe('error');
  });
});
