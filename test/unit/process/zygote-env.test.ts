// Which of an agent's env variables join its zygote's env and key (they act before the fork can apply them).
import { describe, expect, it } from 'vitest';
import { IMPORT_TIME_ENV, interpreterEnv } from '../../../src/process/zygote.ts';

describe('interpreterEnv', () => {
  it('keeps interpreter, preload and import-time variables; never the rest (secrets stay out of the zygote)', () => {
    const agentEnv = {
      PYTHONPATH: '/x',
      PYTHONHASHSEED: '0',
      SYNAPSE_PRELOAD: 'mod',
      OPENAI_API_VERSION: '2024-10-21',
      AZURE_OPENAI_ENDPOINT: 'https://example.invalid',
      OPENAI_LOG: 'debug',
      OPENAI_API_TYPE: 'azure',
      OPENAI_API_KEY: 'sk-secret',
      OPENAI_BASE_URL: 'http://127.0.0.1:1',
      MY_TOKEN: 'secret',
    };
    expect(interpreterEnv(agentEnv)).toEqual({
      PYTHONPATH: '/x',
      PYTHONHASHSEED: '0',
      SYNAPSE_PRELOAD: 'mod',
      OPENAI_API_VERSION: '2024-10-21',
      AZURE_OPENAI_ENDPOINT: 'https://example.invalid',
      OPENAI_LOG: 'debug',
      OPENAI_API_TYPE: 'azure',
    });
    expect(IMPORT_TIME_ENV).not.toContain('OPENAI_API_KEY');
  });
});
