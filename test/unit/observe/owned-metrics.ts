/**
 * `metrics()` for tests: a fresh `SynapseMetrics` closed after each test (its event-loop monitor
 * and timers must not outlive the test). Call `useOwnedMetrics()` once per file.
 */
import { afterEach } from 'vitest';
import { SynapseMetrics } from '../../../src/observe/metrics.ts';

export function useOwnedMetrics(): () => SynapseMetrics {
  const owned: SynapseMetrics[] = [];
  afterEach(() => {
    for (const m of owned.splice(0)) m.close();
  });
  return () => {
    const m = new SynapseMetrics();
    owned.push(m);
    return m;
  };
}
