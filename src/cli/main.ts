#!/usr/bin/env node
/**
 * The `synapse` command (package.json `bin`, compiled to dist/cli/main.js): `npx synapse --help`.
 * All logic lives in {@link runCli}; this file only wires it to the process.
 */
import { runCli } from './run.ts';

process.exitCode = await runCli(process.argv.slice(2));
