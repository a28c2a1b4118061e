/**
 * Command-line arguments of the load tool (`npm run load -- …`): parsed with `node:util`
 * `parseArgs`, validated into a {@link LoadConfig}, every bad value rejected with a coded
 * error (SYN_ERR_INVALID_OPTION) that names the flag.
 */
import { parseArgs } from 'node:util';
import { synErr } from '../../src/errors.ts';

/** Chaos actions the load tool can inject into live Python workers. */
export const CHAOS_KINDS = ['kill', 'stop', 'garbage'] as const;
/** One chaos action: `kill` = SIGKILL, `stop` = SIGSTOP (a hung worker), `garbage` = bytes that are not a frame on the protocol stream. */
export type ChaosKind = (typeof CHAOS_KINDS)[number];
/** Chaos rates in events per second, by kind (absent kinds never fire). */
export type ChaosRates = Partial<Record<ChaosKind, number>>;

/** A validated load-run configuration. */
export interface LoadConfig {
  /** Agents spawned (each runs the support agent). */
  readonly agents: number;
  /** Python worker processes per agent. */
  readonly workers: number;
  /** Conversations, spread round-robin over the agents. */
  readonly conversations: number;
  /** Turns in flight at once (≤ conversations: a conversation has one turn in flight at a time). */
  readonly concurrency: number;
  /** How long new turns are started, in ms (in-flight turns are then awaited). */
  readonly durationMs: number;
  /** Per-turn deadline passed to `sendMessage`, in ms. */
  readonly timeoutMs: number;
  /** Turns per conversation before its slot starts a fresh conversation. */
  readonly turnsPerConversation: number;
  /** Retries of a failed turn with the same turn id (idempotent), before it counts as failed. */
  readonly retries: number;
  /** Seed of every random choice (prompts, conversation order, chaos schedule and targets). */
  readonly seed: number;
  readonly chaos: ChaosRates;
  /** Write the summary as JSON here. */
  readonly json?: string;
  /** Progress display: `auto` (one rewritten line on a TTY, else a line every few seconds) or `off`. */
  readonly progress: 'auto' | 'off';
}

/** Defaults, sized to finish in about a minute on a 2-core machine. */
export const LOAD_DEFAULTS = Object.freeze({
  agents: 2,
  workers: 1,
  conversations: 64,
  concurrency: 16,
  durationMs: 50_000,
  timeoutMs: 30_000,
  retries: 2,
  turnsPerConversation: 10,
});

/** `--help` text. */
export const USAGE = `Usage: npm run load -- [options]

Drives multi-step conversations (support agent: tool call → tool result → answer) against
real Python workers, then checks every acknowledged turn is in the history exactly once.

  --agents N           agents to spawn (default ${LOAD_DEFAULTS.agents})
  --workers W          Python workers per agent (default ${LOAD_DEFAULTS.workers})
  --conversations M    conversations, round-robin over the agents (default ${LOAD_DEFAULTS.conversations})
  --concurrency C      turns in flight at once, <= conversations (default ${LOAD_DEFAULTS.concurrency})
  --turns T            turns per conversation, then a fresh one takes its place (default ${LOAD_DEFAULTS.turnsPerConversation})
  --duration D         how long to start new turns: 500ms, 30s, 2m (default 50s: with start-up and the final check the run fits in a minute)
  --timeout D          per-turn deadline (default 30s)
  --retries R          retries of a failed turn with the same turn id (default ${LOAD_DEFAULTS.retries})
  --chaos SPEC         e.g. kill=0.1/s,stop=0.05/s,garbage=0.05/s (rates per second or per minute: /m)
                         kill: SIGKILL a worker; stop: SIGSTOP it (a hang the heartbeat must catch);
                         garbage: the worker writes bytes that are not a frame to the protocol stream
  --seed S             seed of every random choice (default: random, printed)
  --json FILE          also write the summary as JSON to FILE
  --no-progress        no live progress line
  -h, --help           this text
`;

function bad(flag: string, expected: string, value: string): never {
  throw synErr('SYN_ERR_INVALID_OPTION', `Invalid --${flag}: expected ${expected}, got ${JSON.stringify(value)}`, { option: flag, expected });
}

function int(flag: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = /^\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) bad(flag, `an integer in ${min}..${max}`, raw);
  return n;
}

/**
 * Parses a duration: `250ms`, `30s`, `1.5m`, or a bare number of seconds.
 * @throws SYN_ERR_INVALID_OPTION naming `flag`.
 */
export function parseDuration(flag: string, raw: string, minMs = 1, maxMs = 24 * 3600_000): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw.trim());
  if (m === null) bad(flag, 'a duration like 500ms, 30s or 2m', raw);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  const ms = Math.round(Number(m[1]) * unit);
  if (ms < minMs || ms > maxMs) bad(flag, `a duration in ${minMs} ms..${maxMs / 1000} s`, raw);
  return ms;
}

/**
 * Parses a chaos spec: `kind=rate[/s|/m]` pairs separated by commas, e.g. `kill=0.1/s,garbage=3/m`.
 * @throws SYN_ERR_INVALID_OPTION for an unknown kind, a repeated kind or a rate outside 0..100/s.
 */
export function parseChaos(raw: string): ChaosRates {
  const rates: ChaosRates = {};
  for (const part of raw.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const m = /^([a-z]+)=(\d+(?:\.\d+)?)(?:\/(s|m))?$/.exec(part);
    if (m === null) bad('chaos', 'kind=rate/s pairs like kill=0.1/s,stop=0.05/s', part);
    const kind = m[1] as ChaosKind;
    if (!CHAOS_KINDS.includes(kind)) bad('chaos', `a kind among ${CHAOS_KINDS.join(', ')}`, kind);
    if (rates[kind] !== undefined) bad('chaos', 'each kind at most once', part);
    const perSecond = Number(m[2]) / (m[3] === 'm' ? 60 : 1);
    if (perSecond > 100) bad('chaos', 'a rate of at most 100/s', part);
    rates[kind] = perSecond;
  }
  return rates;
}

/**
 * Parses and validates the load tool's argv.
 * @returns the config, or `'help'` when `--help` was asked.
 * @throws SYN_ERR_INVALID_OPTION for an unknown flag, a missing value or a value out of range.
 */
export function parseLoadArgs(argv: readonly string[]): LoadConfig | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        agents: { type: 'string' },
        workers: { type: 'string' },
        conversations: { type: 'string' },
        concurrency: { type: 'string' },
        duration: { type: 'string' },
        timeout: { type: 'string' },
        retries: { type: 'string' },
        turns: { type: 'string' },
        chaos: { type: 'string' },
        seed: { type: 'string' },
        json: { type: 'string' },
        'no-progress': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    throw synErr('SYN_ERR_INVALID_OPTION', `${(error as Error).message} (see --help)`, { option: 'argv' }, error);
  }
  if (values.help === true) return 'help';
  const conversations = int('conversations', values.conversations, LOAD_DEFAULTS.conversations, 1, 100_000);
  const concurrency = int('concurrency', values.concurrency, Math.min(LOAD_DEFAULTS.concurrency, conversations), 1, 10_000);
  if (concurrency > conversations) {
    bad('concurrency', `at most --conversations (${conversations}): a conversation has one turn in flight at a time`, String(concurrency));
  }
  if (values.json === '') bad('json', 'a file path', '');
  return {
    agents: int('agents', values.agents, LOAD_DEFAULTS.agents, 1, 64),
    workers: int('workers', values.workers, LOAD_DEFAULTS.workers, 1, 64),
    conversations,
    concurrency,
    durationMs: values.duration === undefined ? LOAD_DEFAULTS.durationMs : parseDuration('duration', values.duration, 100),
    timeoutMs: values.timeout === undefined ? LOAD_DEFAULTS.timeoutMs : parseDuration('timeout', values.timeout, 1),
    retries: int('retries', values.retries, LOAD_DEFAULTS.retries, 0, 100),
    turnsPerConversation: int('turns', values.turns, LOAD_DEFAULTS.turnsPerConversation, 1, 100_000),
    seed: values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : int('seed', values.seed, 0, 0, 2 ** 32 - 1),
    chaos: values.chaos === undefined ? {} : parseChaos(values.chaos),
    ...(values.json === undefined ? {} : { json: values.json }),
    progress: values['no-progress'] === true ? 'off' : 'auto',
  };
}
