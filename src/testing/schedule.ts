/**
 * fast-check arbitraries for fault schedules: sequences of messages and faults to run against
 * a live system with `runFaultSchedule`.
 */
import fc from 'fast-check';

/** Words the `faults.py` fixture treats as fault selectors; plain sends never start with them. */
export const FIXTURE_FAULT_WORDS: readonly string[] = Object.freeze([
  'crash_in_tool', 'crash_mid_stream', 'hang', 'block_loop', 'garbage', 'truncated', 'oversized', 'print_noise', 'slow', 'raise_error', 'alloc',
]);

/** One step of a fault schedule. */
export type FaultStep =
  /** A turn on conversation `conversation` of `agent`; `wait` decides what the driver awaits before the next step. */
  | { readonly kind: 'send'; readonly agent: string; readonly conversation: number; readonly prompt: string; readonly stream: boolean; readonly wait: 'none' | 'routed' | 'settled' }
  /** A slow reply: the `faults.py` fixture's `slow <seconds>` prompt (on another agent it is a plain turn). */
  | { readonly kind: 'slow'; readonly agent: string; readonly conversation: number; readonly ms: number }
  /** kill -9 a worker. */
  | { readonly kind: 'kill'; readonly agent: string; readonly worker: number }
  /** SIGSTOP a worker, SIGCONT it `ms` later. */
  | { readonly kind: 'pause'; readonly agent: string; readonly worker: number; readonly ms: number }
  /** Garbage bytes into a worker's protocol stream. */
  | { readonly kind: 'garbage'; readonly agent: string; readonly worker: number }
  /** Wait until every call so far settled. */
  | { readonly kind: 'barrier' };

/** Options of {@link faultSchedule}. */
export interface FaultScheduleOptions {
  /** Agent ids the schedule may target (at least one). */
  agents: readonly string[];
  /** Conversations per agent (≥ 1): sends pick one by index. */
  conversations: number;
  /** Most steps (≥ 1). */
  maxSteps: number;
  /** Fewest steps (default 1). */
  minSteps?: number;
  /** Worker indexes faults may target: `0 … workers-1` (default 1). */
  workers?: number;
  /** Relative weights of the step kinds (0 disables one). Defaults: send 8, kill 2, pause 1, garbage 1, slow 1, barrier 1. */
  weights?: Partial<Record<FaultStep['kind'], number>>;
  /** Range of SIGSTOP durations (default 50–400 ms). Keep it below the agents' heartbeat timeout to test survival, above to test replacement. */
  pauseMs?: { min: number; max: number };
  /** Range of slow replies (default 50–500 ms). */
  slowMs?: { min: number; max: number };
  /** Allow streamed sends (default true). */
  stream?: boolean;
}

const DEFAULT_WEIGHTS: Readonly<Record<FaultStep['kind'], number>> = Object.freeze({ send: 8, kill: 2, pause: 1, garbage: 1, slow: 1, barrier: 1 });

/** A plain prompt: 1–3 lowercase words, never starting with a fixture fault word. */
export function plainPrompt(): fc.Arbitrary<string> {
  const word = fc.stringMatching(/^[a-z]{1,8}$/);
  return fc
    .array(word, { minLength: 1, maxLength: 3 })
    .filter((ws) => !FIXTURE_FAULT_WORDS.includes(ws[0]!))
    .map((ws) => ws.join(' '));
}

/**
 * An arbitrary of fault schedules.
 *
 * @throws TypeError for nonsensical options (no agents, counts below 1).
 * @example
 * ```ts
 * fc.assert(fc.asyncProperty(faultSchedule({ agents: ['a', 'b'], conversations: 2, maxSteps: 12 }), async (steps) => {
 *   const run = await runFaultSchedule(system, steps);
 *   run.ledger.check();
 * }), { numRuns: 5 });
 * ```
 */
export function faultSchedule(options: FaultScheduleOptions): fc.Arbitrary<FaultStep[]> {
  const { agents, conversations, maxSteps } = options;
  if (agents.length === 0) throw new TypeError('faultSchedule: agents must not be empty');
  if (!Number.isInteger(conversations) || conversations < 1) throw new TypeError('faultSchedule: conversations must be an integer >= 1');
  if (!Number.isInteger(maxSteps) || maxSteps < 1) throw new TypeError('faultSchedule: maxSteps must be an integer >= 1');
  const workers = options.workers ?? 1;
  const weights = { ...DEFAULT_WEIGHTS, ...options.weights };
  const pause = options.pauseMs ?? { min: 50, max: 400 };
  const slow = options.slowMs ?? { min: 50, max: 500 };
  const agent = fc.constantFrom(...agents);
  const conversation = fc.integer({ min: 0, max: conversations - 1 });
  const worker = fc.integer({ min: 0, max: Math.max(0, workers - 1) });

  const kinds: { weight: number; arbitrary: fc.Arbitrary<FaultStep> }[] = [
    {
      weight: weights.send,
      arbitrary: fc.record({
        kind: fc.constant('send' as const),
        agent,
        conversation,
        prompt: plainPrompt(),
        stream: options.stream === false ? fc.constant(false) : fc.boolean(),
        wait: fc.constantFrom('none' as const, 'none' as const, 'routed' as const, 'settled' as const),
      }),
    },
    { weight: weights.slow, arbitrary: fc.record({ kind: fc.constant('slow' as const), agent, conversation, ms: fc.integer(slow) }) },
    { weight: weights.kill, arbitrary: fc.record({ kind: fc.constant('kill' as const), agent, worker }) },
    { weight: weights.pause, arbitrary: fc.record({ kind: fc.constant('pause' as const), agent, worker, ms: fc.integer(pause) }) },
    { weight: weights.garbage, arbitrary: fc.record({ kind: fc.constant('garbage' as const), agent, worker }) },
    { weight: weights.barrier, arbitrary: fc.constant({ kind: 'barrier' as const }) },
  ].filter((k) => k.weight > 0);
  return fc.array(fc.oneof(...kinds), { minLength: options.minSteps ?? 1, maxLength: maxSteps });
}

/** One line per step, for logs and failure reports. */
export function describeSchedule(steps: readonly FaultStep[]): string {
  return steps
    .map((s, i) => {
      switch (s.kind) {
        case 'send':
          return `${i}: ${s.stream ? 'stream' : 'send'} ${s.agent}/c${s.conversation} ${JSON.stringify(s.prompt)} wait=${s.wait}`;
        case 'slow':
          return `${i}: slow ${s.agent}/c${s.conversation} ${s.ms} ms`;
        case 'kill':
          return `${i}: kill -9 ${s.agent}#${s.worker}`;
        case 'pause':
          return `${i}: SIGSTOP ${s.agent}#${s.worker} for ${s.ms} ms`;
        case 'garbage':
          return `${i}: garbage → ${s.agent}#${s.worker}`;
        case 'barrier':
          return `${i}: barrier`;
      }
    })
    .join('\n');
}

/**
 * fast-check replay parameters from the environment: `FC_SEED` and `FC_PATH` (as printed by a
 * failed run). Spread into `fc.assert(…, { ...replayParameters(), numRuns })`.
 */
export function replayParameters(env: NodeJS.ProcessEnv = process.env): { seed?: number; path?: string } {
  const out: { seed?: number; path?: string } = {};
  if (env.FC_SEED !== undefined && env.FC_SEED !== '') out.seed = Number(env.FC_SEED);
  if (env.FC_PATH !== undefined && env.FC_PATH !== '') out.path = env.FC_PATH;
  return out;
}
