import { describe, expect, it } from 'vitest';
import { validateName, MAX_NAME_LENGTH } from '../../../src/actor/names.ts';
import { makeRuntime, throwsWith } from './helpers.ts';

const noop = { handle: () => undefined };

describe('registry', () => {
  it('whereis finds a live named actor; the name is freed on exit and can be reused', async () => {
    const { runtime } = makeRuntime();
    const a = runtime.spawn(noop, { name: 'svc' });
    expect(runtime.whereis('svc')).toBe(a);
    expect(a.name).toBe('svc');
    throwsWith(() => runtime.spawn(noop, { name: 'svc' }), 'SYN_ERR_NAME_TAKEN');
    await a.stop();
    expect(runtime.whereis('svc')).toBeUndefined();
    const b = runtime.spawn(noop, { name: 'svc' });
    expect(runtime.whereis('svc')).toBe(b);
    expect(b.id).not.toBe(a.id);
  });

  it('frees the name on crash and kill too', async () => {
    const { runtime } = makeRuntime();
    const a = runtime.spawn(
      {
        handle: () => {
          throw new Error('x');
        },
      },
      { name: 'crashy' },
    );
    a.send(1);
    await a.exited;
    expect(runtime.whereis('crashy')).toBeUndefined();
    runtime.spawn(noop, { name: 'crashy' }).kill();
    expect(runtime.whereis('crashy')).toBeUndefined();
  });

  it('validates names: non-empty string, at most 200 chars, no control characters', () => {
    const { runtime } = makeRuntime();
    for (const bad of ['', 'x'.repeat(MAX_NAME_LENGTH + 1), 'a\nb', 'tab\there', 'nul\u0000', 'c1\u0085', 'ls\u2028']) {
      throwsWith(() => runtime.spawn(noop, { name: bad }), 'SYN_ERR_INVALID_ARGUMENT');
    }
    throwsWith(() => runtime.spawn(noop, { name: 42 as unknown as string }), 'SYN_ERR_INVALID_OPTION');
    expect(runtime.spawn(noop, { name: 'x'.repeat(MAX_NAME_LENGTH) }).name).toHaveLength(MAX_NAME_LENGTH);
    expect(runtime.spawn(noop, { name: 'agent:support/ü €' }).name).toBe('agent:support/ü €');
    throwsWith(() => validateName(undefined), 'SYN_ERR_INVALID_ARGUMENT');
  });

  it('ids are unique and never reused', () => {
    const { runtime } = makeRuntime();
    const ids = new Set<string>();
    for (let i = 0; i < 1000; i++) {
      const ref = runtime.spawn(noop);
      ids.add(ref.id);
      ref.kill();
    }
    expect(ids.size).toBe(1000);
  });
});
