#!/usr/bin/env node
/**
 * digitq: the command line of the digitq API (npx digitq --help).
 * Everything is in cli/run.ts; this only connects it to the process.
 */
import { runCli } from './cli/run.ts';

const interrupt = new AbortController();
process.once('SIGINT', () => interrupt.abort());

process.exitCode = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env, signal: interrupt.signal });
