/**
 * Reads one series from a Prometheus text exposition (what `/metrics` and `metrics.text()`
 * return): the sample whose labels are exactly `labels` (`le` of a histogram bucket included
 * when given), or `undefined` when there is none.
 */
export function promSample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && line.split(' ')[0] !== name) continue;
    const open = line.indexOf('{');
    const body = open < 0 ? '' : line.slice(open + 1, line.lastIndexOf('}'));
    const got = Object.fromEntries([...body.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    if (Object.keys(got).length === want.length && want.every(([k, v]) => got[k] === v)) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}
