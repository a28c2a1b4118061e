/**
 * The load driver: `concurrency` independent loops, each owning the conversations whose index
 * is congruent to it (so a conversation never has two turns in flight and the history count
 * the agent reports is predictable). Each loop picks one of its conversations and a prompt
 * from its own seeded PRNG, sends the turn, retries a failed one with the same turn id
 * (idempotent), and records the outcome. Prompts are unique per turn (they carry the
 * conversation index and turn number) so the verifier can find each turn in the history.
 */
import { ERROR_CODES, isSynapseError } from '../../src/errors.ts';
import type { ActorSystem } from '../../src/system.ts';

/** The part of the system the driver uses (a fake in unit tests). */
export type TurnSender = Pick<ActorSystem, 'sendMessage'>;
import { rng } from './prng.ts';
import { Reservoir } from './samples.ts';
import type { ConversationRecord } from './verify.ts';

const QUESTIONS = ['Where is order {n}?', 'What is the status of order {n}?', 'Please refund order {n}.', 'Has order {n} shipped yet?', 'Can I get a refund for order {n}?'];
const ORDERS = ['42', '7', '13', '99', '1234'];

/** Live counters of a run (read by the progress line). */
export interface DriverCounters {
  started: number;
  acked: number;
  failed: number;
  inFlight: number;
  retries: number;
  replayed: number;
  /** Replies that did not echo their own prompt (cross-talk between turns). */
  crossTalk: number;
  /** Replies whose `history=N` differs from the turns acknowledged before in that conversation. */
  historyMismatch: number;
  /** Outcome of every attempt: `ok` or the error code. */
  outcomes: Record<string, number>;
}

interface Conversation {
  readonly index: number;
  /** How many conversations this slot has started (a slot moves on after `maxTurns` turns). */
  generation: number;
  conversationId: string;
  readonly agent: string;
  turns: number;
  acked: string[];
  failed: string[];
}

/** Options of {@link Driver}. */
export interface DriverOptions {
  readonly system: TurnSender;
  readonly agents: readonly string[];
  readonly conversations: number;
  readonly concurrency: number;
  readonly timeoutMs: number;
  readonly retries: number;
  /** Turns per conversation; then its slot starts a fresh conversation (histories stay realistic in size). */
  readonly maxTurns: number;
  readonly seed: number;
  readonly now: () => number;
  /**
   * Waits `ms` (a real or simulated timer). Used before a retry (100 ms × 2^attempt, at most
   * 2 s) and after a failed turn, so a run of fast failures never becomes a hot loop that
   * starves the event loop (and with it the restarts it is waiting for).
   */
  readonly delay: (ms: number) => Promise<void>;
}

/** Delay before retry number `attempt` (0-based) of a failed turn. */
export function retryDelayMs(attempt: number): number {
  return Math.min(2000, 100 * 2 ** attempt);
}

/** Drives turns until `stop()`; `done` settles when every loop has finished its last turn. */
export class Driver {
  readonly counters: DriverCounters = { started: 0, acked: 0, failed: 0, inFlight: 0, retries: 0, replayed: 0, crossTalk: 0, historyMismatch: 0, outcomes: {} };
  readonly latency: Reservoir;
  readonly #o: DriverOptions;
  readonly #conversations: Conversation[];
  /** Records of conversations whose slot has moved on (verified at the end like the live ones). */
  readonly #finished: ConversationRecord[] = [];
  #stopped = false;
  #done: Promise<void> | undefined;

  constructor(options: DriverOptions) {
    this.#o = options;
    this.latency = new Reservoir(100_000, options.seed);
    this.#conversations = Array.from({ length: options.conversations }, (_, index) => ({
      index,
      generation: 0,
      conversationId: `load-${options.seed}-c${index}.0`,
      agent: options.agents[index % options.agents.length]!,
      turns: 0,
      acked: [],
      failed: [],
    }));
  }

  /** Starts the loops (idempotent). */
  start(): Promise<void> {
    this.#done ??= Promise.all(Array.from({ length: this.#o.concurrency }, (_, d) => this.#loop(d))).then(() => undefined);
    return this.#done;
  }

  /** No new turns after this; turns in flight (and their retries) finish. */
  stop(): void {
    this.#stopped = true;
  }

  /** Per-conversation records for the verifier. */
  records(): ConversationRecord[] {
    return [...this.#finished, ...this.#conversations.map((c) => ({ conversationId: c.conversationId, acked: c.acked, failed: c.failed }))];
  }

  async #loop(d: number): Promise<void> {
    const random = rng(this.#o.seed, `driver:${d}`);
    const mine = this.#conversations.filter((c) => c.index % this.#o.concurrency === d);
    while (!this.#stopped) {
      const conversation = mine[random.int(mine.length)]!;
      const question = QUESTIONS[random.int(QUESTIONS.length)]!.replace('{n}', ORDERS[random.int(ORDERS.length)]!);
      const acked = await this.#turn(conversation, `${question} (c${conversation.index}.${conversation.generation} t${conversation.turns})`);
      if (!acked) await this.#o.delay(retryDelayMs(0));
      if (conversation.turns >= this.#o.maxTurns) this.#rotate(conversation);
    }
  }

  #rotate(c: Conversation): void {
    this.#finished.push({ conversationId: c.conversationId, acked: c.acked, failed: c.failed });
    c.generation++;
    c.conversationId = `load-${this.#o.seed}-c${c.index}.${c.generation}`;
    c.turns = 0;
    c.acked = [];
    c.failed = [];
  }

  /** Sends one turn (with retries); resolves true once acknowledged, false when it finally failed. */
  async #turn(c: Conversation, prompt: string): Promise<boolean> {
    const turnId = `${c.conversationId}/t${c.turns}`;
    c.turns++;
    const k = this.counters;
    k.started++;
    k.inFlight++;
    try {
      for (let attempt = 0; ; attempt++) {
        const t0 = this.#o.now();
        try {
          const r = await this.#o.system.sendMessage(c.agent, { prompt }, { conversationId: c.conversationId, turnId, timeoutMs: this.#o.timeoutMs });
          this.latency.add(this.#o.now() - t0);
          this.#count('ok');
          if (r.replayed) k.replayed++;
          const output = typeof r.output === 'string' ? r.output : JSON.stringify(r.output);
          if (!output.includes(`(re: ${prompt})`)) k.crossTalk++;
          else if (!output.endsWith(`history=${c.acked.length}`)) k.historyMismatch++;
          c.acked.push(prompt);
          k.acked++;
          return true;
        } catch (error) {
          const code = isSynapseError(error) ? error.code : 'UNCODED';
          this.#count(code);
          const misuse = isSynapseError(error) && ERROR_CODES[error.code].kind === 'misuse';
          if (misuse || attempt >= this.#o.retries || code === 'SYN_ERR_SYSTEM_STOPPED') {
            c.failed.push(prompt);
            k.failed++;
            return false;
          }
          k.retries++;
          await this.#o.delay(retryDelayMs(attempt));
        }
      }
    } finally {
      k.inFlight--;
    }
  }

  #count(outcome: string): void {
    this.counters.outcomes[outcome] = (this.counters.outcomes[outcome] ?? 0) + 1;
  }
}
