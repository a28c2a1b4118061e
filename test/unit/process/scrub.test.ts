import { describe, expect, it } from 'vitest';
import { SCRUBBED, scrubText, secretValues } from '../../../src/process/scrub.ts';

describe('secretValues / scrubText', () => {
  it('scrubs secrets (names matching the default rule, ≥ 8 chars), longest first; configuration stays readable', () => {
    const env = {
      OPENAI_API_KEY: 'sk-abcdef123',
      GITHUB_TOKEN: 'ghp_0123456789',
      DB_PASSWORD: 'hunter2hunter2',
      SHORT_KEY: 'abc', // too short for the rule: would mangle text
      OPENAI_BASE_URL: 'http://127.0.0.1:8000/v1',
      MODEL: 'openai:gpt-4o-mini',
      DB_URL: 'postgres://u:hunter2hunter2@h/db',
      PORT: '8080',
      PYTHONPATH: '/srv/app/lib',
    };
    const secrets = secretValues(env);
    expect(secrets).toEqual(['ghp_0123456789', 'hunter2hunter2', 'sk-abcdef123']);
    expect(scrubText('POST http://127.0.0.1:8000/v1/chat/completions (openai:gpt-4o-mini) with sk-abcdef123', secrets)).toBe(
      `POST http://127.0.0.1:8000/v1/chat/completions (openai:gpt-4o-mini) with ${SCRUBBED}`,
    );
    // A secret inside a configuration value is still replaced (the secret, not the whole value).
    expect(scrubText(env.DB_URL, secrets)).toBe(`postgres://u:${SCRUBBED}@h/db`);
  });

  it('python.secrets names more secrets, redacted whatever their length; the rule still applies', () => {
    const env = { DATABASE_URL: 'postgres://u:pw@h/db', PIN: '1234', OPENAI_API_KEY: 'sk-abcdef123', OPENAI_BASE_URL: 'http://h/v1' };
    expect(secretValues(env, ['DATABASE_URL', 'PIN', 'NOT_SET'])).toEqual(['postgres://u:pw@h/db', 'sk-abcdef123', '1234']);
    expect(secretValues(env)).toEqual(['sk-abcdef123']); // the name rule alone
  });

  it('returns the same string when nothing matches, and handles no secrets', () => {
    const text = 'nothing to see';
    expect(scrubText(text, secretValues({ API_KEY: 'sk-zzzzzzzz' }))).toBe(text);
    expect(secretValues({})).toEqual([]);
    expect(secretValues({ OPENAI_BASE_URL: 'http://127.0.0.1:8000/v1', HOME: '/home/someone' })).toEqual([]);
  });
});
