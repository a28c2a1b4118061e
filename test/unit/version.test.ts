// One version across the Node package and the bundled Python bridge: what `hello` is checked
// against (SYN_ERR_BRIDGE_VERSION) must be what `npx synapse python setup` installs.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { VERSION } from '../../src/version.ts';
import { REPO_ROOT } from '../helpers/python.ts';

describe('VERSION', () => {
  it('is package.json\'s, pyproject\'s and synapse_bridge.__version__', () => {
    const pkg = JSON.parse(readFileSync(`${REPO_ROOT}package.json`, 'utf8')) as { version: string };
    const pyproject = /^version = "([^"]+)"/m.exec(readFileSync(`${REPO_ROOT}python-bridge/pyproject.toml`, 'utf8'))?.[1];
    const init = /^__version__ = '([^']+)'/m.exec(readFileSync(`${REPO_ROOT}python-bridge/synapse_bridge/__init__.py`, 'utf8'))?.[1];
    expect([VERSION, pyproject, init]).toEqual([pkg.version, pkg.version, pkg.version]);
  });
});
