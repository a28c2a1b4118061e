/**
 * `runFaultSchedule`: drives a live system through a fault schedule — turns fired
 * concurrently, faults injected in between — and books everything in a `CallLedger`.
 */
import { nanoid } from 'nanoid';
import type { ActorSystem, SendResult, StreamItem } from '../system.ts';
import { chaos as makeChaos, type Chaos, type ChaosAction } from './chaos.ts';
import type { AckedTurn } from './history-check.ts';
import { CallLedger } from './ledger.ts';
import type { FaultStep } from './schedule.ts';

/** Options of {@link runFaultSchedule}. */
export interface RunFaultScheduleOptions {
  /** Deadline of each turn (default 20 000 ms). */
  timeoutMs?: number;
  /** Waits for all calls at the end at most this long, real time (default 120 000 ms). */
  settleTimeoutMs?: number;
  /** Prefix of the conversation and turn ids (default: random, so runs never share conversations). */
  idPrefix?: string;
  /** A chaos driver to use (default: a fresh one, closed at the end). */
  chaos?: Chaos;
  /** A ledger to book into (default: a fresh one). */
  ledger?: CallLedger;
  /** Called before each step (e.g. to log it). */
  onStep?: (step: FaultStep, index: number) => void;
}

/** What a fault run produced: the evidence for the invariant checks. */
export interface FaultRunResult {
  readonly ledger: CallLedger;
  /** Turns acknowledged to their caller, in acknowledgement order. */
  readonly acked: readonly AckedTurn[];
  /** Prompts whose call failed (each may be committed at most once). */
  readonly unacked: ReadonlyArray<{ conversationId: string; prompt: string }>;
  /** Faults injected or skipped. */
  readonly chaos: readonly ChaosAction[];
  /** Every conversation id the run used. */
  readonly conversationIds: readonly string[];
}

/**
 * Runs `steps` against `system` and resolves once every call settled and every pause ended.
 * Never rejects because a call failed (failures are outcomes in the ledger); rejects with a
 * `FaultInvariantError` (`ledger`) if calls are still pending after `settleTimeoutMs`.
 *
 * Each send carries a unique suffix (` #<step>.<prefix>`) so its prompt identifies it in the
 * history, and its own turn id.
 *
 * @example
 * ```ts
 * const run = await runFaultSchedule(system, steps, { timeoutMs: 10_000 });
 * run.ledger.check();
 * await checkHistory(system, run.acked, { unackedPrompts: run.unacked });
 * ```
 */
export async function runFaultSchedule(system: ActorSystem, steps: readonly FaultStep[], options: RunFaultScheduleOptions = {}): Promise<FaultRunResult> {
  const prefix = options.idPrefix ?? `fault-${nanoid(8)}`;
  const timeoutMs = options.timeoutMs ?? 20_000;
  const ledger = options.ledger ?? new CallLedger();
  const chaos = options.chaos ?? makeChaos(system);
  const acked: AckedTurn[] = [];
  const unacked: { conversationId: string; prompt: string }[] = [];
  const conversations = new Set<string>();
  const pauses: Promise<unknown>[] = [];
  let outstanding: Promise<unknown>[] = [];

  const turn = (index: number, agent: string, conversation: number, prompt: string, stream: boolean, wait: 'none' | 'routed' | 'settled'): Promise<unknown> => {
    const conversationId = `${prefix}-${agent}-c${conversation}`;
    const turnId = `${prefix}-t${index}`;
    const fullPrompt = `${prompt} #${index}.${prefix}`;
    conversations.add(conversationId);
    let routed: (() => void) | undefined;
    const routedP = new Promise<void>((resolve) => (routed = resolve));
    const off = system.on('message.routed', (e) => {
      if (e.turnId === turnId) routed?.();
    });
    const meta = { agent, conversationId, turnId, prompt: fullPrompt };
    const sendOptions = { conversationId, turnId, timeoutMs };
    const done = stream
      ? ledger.trackStream(`stream#${index} ${agent}/c${conversation}`, () => system.streamMessage(agent, { prompt: fullPrompt }, sendOptions), (item: StreamItem) => item.kind === 'result', meta)
      : ledger.track(`send#${index} ${agent}/c${conversation}`, () => system.sendMessage(agent, { prompt: fullPrompt }, sendOptions), meta);
    const booked = done.then((outcome) => {
      off();
      routed?.();
      if (outcome.ok) {
        const r = outcome.value as SendResult;
        acked.push({ conversationId: r.conversationId, turnId: r.turnId, messages: r.messages, prompt: fullPrompt });
      } else unacked.push({ conversationId, prompt: fullPrompt });
    });
    outstanding.push(booked);
    if (wait === 'settled') return booked;
    if (wait === 'routed') return routedP;
    return Promise.resolve();
  };

  try {
    for (const [index, step] of steps.entries()) {
      options.onStep?.(step, index);
      switch (step.kind) {
        case 'send':
          await turn(index, step.agent, step.conversation, step.prompt, step.stream, step.wait);
          break;
        case 'slow':
          await turn(index, step.agent, step.conversation, `slow ${(step.ms / 1000).toFixed(3)}`, false, 'none');
          break;
        case 'kill':
          chaos.kill(step.agent, step.worker);
          break;
        case 'pause':
          pauses.push(chaos.pause(step.agent, step.ms, step.worker));
          break;
        case 'garbage':
          chaos.garbage(step.agent, step.worker);
          break;
        case 'barrier': {
          const now = outstanding;
          outstanding = [];
          await Promise.all(now);
          break;
        }
      }
    }
    await ledger.settled(options.settleTimeoutMs ?? 120_000);
    await Promise.all([...outstanding, ...pauses]);
  } finally {
    if (options.chaos === undefined) chaos.close();
  }
  return { ledger, acked, unacked, chaos: chaos.log, conversationIds: [...conversations] };
}
