/* global require, __dirname -- this file is injected into the CommonJS bundle dist/darkhook.cjs */
/* eslint-disable @typescript-eslint/no-require-imports */
// Injected by `npm run bundle:cli` for `import.meta.url`, which a CommonJS bundle lacks. dist/darkhook.cjs stands in
// for a module at dist/cli/, the depth of build/cli/, so `new URL('../../package.json', import.meta.url)` still
// names the package's package.json.
export const importMetaUrl = require('node:url').pathToFileURL(`${__dirname}/cli/main.js`).href;
