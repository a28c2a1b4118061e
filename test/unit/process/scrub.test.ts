import { describe, expect, it } from 'vitest';
import { SCRUBBED, scrubText, secretValues } from '../../../src/process/scrub.ts';

describe('secretValues / scrubText', () => {
  it('scrubs env values of at least 8 characters, longest first; configuration keys and short values stay readable', () => {
    const secrets = secretValues({ API_KEY: 'sk-abcdef123', DB_URL: 'postgres://u:sk-abcdef123@h/db', PORT: '8080', FLAG: 'true', PYTHONPATH: '/srv/app/lib', SYNAPSE_PRELOAD: 'pydantic_ai.models.openai' });
    expect(secrets).toEqual(['postgres://u:sk-abcdef123@h/db', 'sk-abcdef123']);
    expect(scrubText('connect postgres://u:sk-abcdef123@h/db with sk-abcdef123 on 8080 from /srv/app/lib', secrets)).toBe(`connect ${SCRUBBED} with ${SCRUBBED} on 8080 from /srv/app/lib`);
  });

  it('returns the same string when nothing matches, and handles no secrets', () => {
    const text = 'nothing to see';
    expect(scrubText(text, secretValues({ KEY: 'sk-zzzzzzzz' }))).toBe(text);
    expect(secretValues({})).toEqual([]);
  });
});
