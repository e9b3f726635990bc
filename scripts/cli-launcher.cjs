#!/usr/bin/env node
/* global require, process -- copied by `npm run bundle:cli` to dist/darkhook.cjs, the package's bin */
/* eslint-disable @typescript-eslint/no-require-imports */
// The darkhook command: turns on Node's compile cache, then runs the bundled CLI beside it (dist/darkhook-cli.cjs).
//
// Why a separate file: module.enableCompileCache() (Node 22.1+) only caches modules loaded after it is called, so
// it must run before the 400 KB bundle is compiled; a warm cache saves most of that compile on every start. The
// cache is an optimisation, never a reason to fail: where Node lacks it (Node 20), NODE_DISABLE_COMPILE_CACHE=1 is
// set, or the directory cannot be written, the bundle simply runs uncached and nothing is printed.
//
// Where: NODE_COMPILE_CACHE if set (Node then has enabled it already), else darkhook's own directory in the user's
// cache ($XDG_CACHE_HOME or ~/.cache), not Node's default os.tmpdir()/node-compile-cache: on a shared machine
// another user could create that directory before us and plant code for our processes to load.
'use strict';
const { enableCompileCache } = require('node:module');

if (typeof enableCompileCache === 'function' && process.env.NODE_COMPILE_CACHE === undefined) {
  try {
    const { homedir } = require('node:os');
    const { isAbsolute, join } = require('node:path');
    const xdg = process.env.XDG_CACHE_HOME;
    const base = xdg !== undefined && isAbsolute(xdg) ? xdg : join(homedir(), '.cache');
    enableCompileCache(join(base, 'darkhook', 'compile-cache'));
  } catch {
    // homedir() throws when the user has no home directory: run uncached.
  }
}

require('./darkhook-cli.cjs');
