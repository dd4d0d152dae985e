#!/usr/bin/env node
// The built CLI (node scripts/build.mjs bundles src/cli.ts into dist/cli.js); a file of its own so the bin is executable before the first build.
import "../dist/cli.js";
