/**
 * This package's version (from its package.json): what `npx synapse doctor` prints and what
 * the Python `synapse-bridge` must report in `hello` (else SYN_ERR_BRIDGE_VERSION).
 */
import { createRequire } from 'node:module';

// src/version.ts and dist/version.js both sit one level below the package root.
const pkg = createRequire(import.meta.url)('../package.json') as { readonly version: string };

/** The version of this Node package; the bundled `python-bridge` has the same version. */
export const VERSION: string = pkg.version;
