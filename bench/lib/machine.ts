/**
 * Machine information printed next to every benchmark result (Node/V8 versions, CPU model,
 * core count, memory), so numbers from different machines are never compared blind.
 */
import os from 'node:os';

export interface MachineInfo {
  readonly node: string;
  readonly v8: string;
  readonly platform: string;
  readonly arch: string;
  readonly cpu: string;
  readonly cores: number;
  readonly totalMemGiB: number;
  readonly loadAvg: readonly number[];
}

/** Collects the machine info of the current process. */
export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    node: process.version,
    v8: process.versions.v8,
    platform: `${os.type()} ${os.release()}`,
    arch: process.arch,
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: typeof os.availableParallelism === 'function' ? os.availableParallelism() : cpus.length,
    totalMemGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    loadAvg: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

/** Markdown bullet list of {@link machineInfo}, plus extra lines (e.g. Python version). */
export function formatMachineInfo(info: MachineInfo = machineInfo(), extra: Record<string, string> = {}): string {
  const lines = [
    `- Node ${info.node} (V8 ${info.v8}), ${info.platform} ${info.arch}`,
    `- CPU: ${info.cpu}, ${info.cores} cores available; RAM ${info.totalMemGiB} GiB`,
    `- Load average at start (1/5/15 min): ${info.loadAvg.join(' / ')}`,
    ...Object.entries(extra).map(([k, v]) => `- ${k}: ${v}`),
  ];
  return lines.join('\n');
}
