/**
 * `npm run demo -- --cluster` (examples/demo.ts → examples/cluster/demo.ts): exits 0, narrates
 * the host kill (host_lost, the retry on the other host) and the front kill (lease taken over),
 * shows the history intact, and leaves no process behind. The timer is a hang guard only.
 */
import { describe, expect, it } from 'vitest';
import { findWorkerPids } from '../../src/testing/pids.ts';
import { runDemo } from '../helpers/demo.ts';

describe('the cluster demo (npm run demo -- --cluster)', () => {
  it('kills a host and a front, keeps the history intact, exits 0, nothing left running', async () => {
    const { code, signal, out } = await runDemo(['--cluster'], 110_000);
    expect({ code, signal }, out).toEqual({ code: 0, signal: null });
    for (const line of [
      /kill -9 host-[ab]/,
      /caller got SYN_ERR_AGENT_CRASHED \{[^}]*"reason":"host_lost"/,
      /front-b → trip\/t5: answered by host-[ab]/,
      /Python workers left: 0/,
      /kill -9 front-a/,
      /front-b → trip\/t6: answered by host-[ab]/,
      /history of "trip": 7 turns t1,t2,t3,t4,t5,t6,t7 .*intact, each once, in order/,
      /0 Python processes left running/,
    ]) {
      expect(out, `missing ${line}`).toMatch(line);
    }
    const hostPids = [...out.matchAll(/host-[ab] (?:restarted )?pid=(\d+)/g)].map((m) => Number(m[1]));
    expect(hostPids.length).toBeGreaterThanOrEqual(3); // host-a, host-b, the restarted one
    expect(hostPids.flatMap((p) => findWorkerPids(p))).toEqual([]);
  }, 120_000);
});
