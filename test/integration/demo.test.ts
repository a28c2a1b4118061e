/**
 * The README's main command runs `examples/demo.ts`: it must exit 0, show each injected fault
 * being handled, and leave no Python process behind. (It finishes in well under a minute on a
 * quiet machine; the timer below is only a hang guard, sized for a loaded 2-core CI machine where
 * each interpreter start alone can take 6–7 s — never a performance assertion.)
 */
import { describe, expect, it } from 'vitest';
import { findWorkerPids } from '../../src/testing/pids.ts';
import { runDemo } from '../helpers/demo.ts';

describe('the demo (npm run demo)', () => {
  it('runs the concurrent conversations, the crash, the hang and the crash loop; exits 0; nothing left running', async () => {
    const { code, signal, out, pid } = await runDemo([], 170_000);
    expect({ code, signal }, out).toEqual({ code: 0, signal: null });
    for (const line of [
      /worker crashed\s+\S+ pid=\d+ SYN_ERR_AGENT_CRASHED/, // the crash
      /caller got SYN_ERR_TIMEOUT after \d+ ms/, // the hang
      /restart scheduled .* \(attempt \d+, start-up failure\)/, // the crash loop, with backoff
      /intensity exceeded/,
      /QUARANTINED/,
      /all SYN_ERR_AGENT_UNAVAILABLE/,
      /recovered\s+flaky/,
      /hold (\d+) user turns \(expected \1\)/, // history intact
      /0 of ours left running/,
    ]) {
      expect(out, `missing ${line}`).toMatch(line);
    }
    expect(findWorkerPids(pid)).toEqual([]);
  }, 180_000);
});
