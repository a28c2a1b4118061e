/**
 * Bounded keeper of a worker's stderr: the last `maxBytes` bytes for crash reports, and
 * complete lines (each cut at `maxBytes`) for the debug log.
 */

/** Default bytes of stderr kept for crash reports. */
export const STDERR_TAIL_BYTES = 8 * 1024;

/** Bounded stderr buffer: at most `maxBytes` of tail plus one line of at most `maxBytes`. */
export class StderrTail {
  readonly maxBytes: number;
  #chunks: Buffer[] = [];
  #size = 0;
  #line: Buffer[] = [];
  #lineSize = 0;

  constructor(maxBytes = STDERR_TAIL_BYTES) {
    this.maxBytes = maxBytes;
  }

  /** Records a chunk; calls `onLine` for each completed line (without the newline). */
  push(chunk: Buffer, onLine?: (line: string) => void): void {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    if (this.#size > 2 * this.maxBytes) this.#compact();
    if (onLine === undefined) return;
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(10, start);
      if (nl === -1) break;
      this.#appendLine(chunk.subarray(start, nl));
      onLine(Buffer.concat(this.#line, this.#lineSize).toString('utf8'));
      this.#line = [];
      this.#lineSize = 0;
      start = nl + 1;
    }
    if (start < chunk.length) this.#appendLine(chunk.subarray(start));
  }

  /** Emits a pending partial line, if any (call at end of stream). */
  flush(onLine: (line: string) => void): void {
    if (this.#lineSize === 0) return;
    onLine(Buffer.concat(this.#line, this.#lineSize).toString('utf8'));
    this.#line = [];
    this.#lineSize = 0;
  }

  /** The last `maxBytes` bytes as text. */
  text(): string {
    this.#compact();
    return Buffer.concat(this.#chunks, this.#size).toString('utf8');
  }

  #appendLine(part: Buffer): void {
    const room = this.maxBytes - this.#lineSize;
    if (room <= 0) return; // the line is already at its cap: drop the excess
    const kept = part.length > room ? part.subarray(0, room) : part;
    this.#line.push(kept);
    this.#lineSize += kept.length;
  }

  #compact(): void {
    if (this.#size <= this.maxBytes && this.#chunks.length <= 1) return;
    const all = Buffer.concat(this.#chunks, this.#size);
    const last = all.subarray(Math.max(0, all.length - this.maxBytes));
    this.#chunks = [Buffer.from(last)];
    this.#size = last.length;
  }
}
