/** Loads the optional sodium-native addon quickly: by require(), with its prebuilt binary found directly. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import { dirname, join } from 'node:path';
import type { SodiumNative } from 'sodium-native';

/**
 * sodium-native 5's `binding.js`, byte for byte: it hands the package's own directory to require-addon, which
 * resolves `prebuilds/<platform>-<arch>/sodium-native.node` through bare-addon-resolve. Only when the file is
 * exactly this do we load that binary ourselves; any other content (a later version, a patched install) goes
 * the package's own way.
 */
const STOCK_BINDING = "require.addon = require('require-addon')\nmodule.exports = require.addon('.', __filename)\n";

/** The binary's file name in `prebuilds/<platform>-<arch>/`. */
const PREBUILD_FILE = 'sodium-native.node';

/** How `requireSodiumNative` found the binary: directly (`prebuild`) or through the package's resolver. */
export type SodiumLoadPath = 'prebuild' | 'package';

let loadedBy: SodiumLoadPath | undefined;

/** The prebuilt binary sodium-native's resolver would pick on this machine, if it is the stock layout; else undefined. */
export function sodiumPrebuildFor(bindingPath: string): string | undefined {
  // require-addon looks for `<host>-musl` on Alpine: leave that case to it.
  if (process.platform === 'linux' && existsSync('/etc/alpine-release')) return undefined;
  let source: string;
  try {
    source = readFileSync(bindingPath, 'utf8');
  } catch {
    return undefined;
  }
  if (source !== STOCK_BINDING) return undefined;
  const hostDir = join(dirname(bindingPath), 'prebuilds', `${process.platform}-${process.arch}`);
  let files: string[];
  try {
    files = readdirSync(hostDir);
  } catch {
    return undefined;
  }
  // The resolver tries `sodium-native@<version>.node` before the plain name: where one is there, let it choose.
  if (!files.includes(PREBUILD_FILE) || files.some((f) => f.startsWith('sodium-native@'))) return undefined;
  return join(hostDir, PREBUILD_FILE);
}

/**
 * A CommonJS require for this module: the bundle's own where there is one (esbuild's CommonJS output), else one
 * made from this file's URL (the ESM build).
 */
function localRequire(): NodeJS.Require {
  return typeof require === 'function' ? require : createRequire(import.meta.url);
}

/**
 * Load sodium-native. By `require`, not `import()`: importing a CommonJS package makes Node's ESM loader lex its
 * 108 KB `index.js` for named exports, and the package's resolver (require-addon → bare-addon-resolve, walking
 * package.json conditions) costs as much again; together ~10–15 ms of a cold `darkhook send`. Where
 * `binding.js` is the stock one, its module is filled with the prebuilt binary before `index.js` asks for it;
 * otherwise, or when that binary does not load, the package loads as it always does.
 *
 * @throws the require's error when the package or its binary is missing or cannot load (the caller falls back)
 */
export function requireSodiumNative(req: NodeJS.Require = localRequire()): SodiumNative {
  let via: SodiumLoadPath = 'package';
  let bindingPath: string | undefined;
  try {
    bindingPath = req.resolve('sodium-native/binding.js');
  } catch {
    // Not installed (the require below says so), or a layout without binding.js: the package's own way.
  }
  if (bindingPath !== undefined && req.cache[bindingPath] === undefined) {
    const prebuild = sodiumPrebuildFor(bindingPath);
    if (prebuild !== undefined) {
      try {
        const m = new Module(bindingPath);
        m.filename = bindingPath;
        m.exports = req(prebuild);
        m.loaded = true;
        req.cache[bindingPath] = m;
        via = 'prebuild';
      } catch {
        // A binary that does not load here (another libc, a broken file): the package's resolver may know better.
      }
    }
  }
  const lib = req('sodium-native') as SodiumNative;
  loadedBy ??= via;
  return lib;
}

/** How the loaded sodium-native found its binary, once `requireSodiumNative` has succeeded (for tests and benches). */
export function sodiumLoadPath(): SodiumLoadPath | undefined {
  return loadedBy;
}
