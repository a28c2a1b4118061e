/**
 * A pino logger that records every line in memory, with a way to await a matching record
 * (instead of sleeping until a log line has probably arrived).
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Logger } from 'pino';

export type LogRecord = Record<string, unknown> & { level: number; msg?: string };

export interface LogCapture {
  readonly log: Logger;
  readonly records: LogRecord[];
  /** Resolves with the first record (past or future) matching `predicate`. */
  waitFor(predicate: (record: LogRecord) => boolean): Promise<LogRecord>;
}

export function captureLogs(level: pino.LevelWithSilent = 'debug'): LogCapture {
  const records: LogRecord[] = [];
  let waiters: { predicate: (r: LogRecord) => boolean; resolve: (r: LogRecord) => void }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line === '') continue;
        const record = JSON.parse(line) as LogRecord;
        records.push(record);
        waiters = waiters.filter((w) => {
          if (!w.predicate(record)) return true;
          w.resolve(record);
          return false;
        });
      }
      callback();
    },
  });
  const log = pino({ level }, stream);
  return {
    log,
    records,
    waitFor(predicate) {
      const found = records.find(predicate);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve) => waiters.push({ predicate, resolve }));
    },
  };
}
