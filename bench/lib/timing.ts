/**
 * Wall-clock and CPU-time stopwatch for benchmark samples. On a shared machine the wall
 * time of a sample includes time the process spent descheduled; the CPU time (user +
 * system of this process, all threads) does not, so ratios of CPU-time throughputs are
 * steadier under load. Both are reported; neither is a substitute for a quiet machine.
 */

/** Elapsed time of one sample, in seconds. */
export interface Elapsed {
  readonly wall: number;
  readonly cpu: number;
}

/** Starts a stopwatch; call the returned function to read the elapsed wall and CPU time. */
export function stopwatch(): () => Elapsed {
  const wall0 = performance.now();
  const cpu0 = process.cpuUsage();
  return () => {
    const cpu = process.cpuUsage(cpu0);
    return { wall: (performance.now() - wall0) / 1000, cpu: (cpu.user + cpu.system) / 1e6 };
  };
}
