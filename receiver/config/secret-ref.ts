/** Secret references in the receiver config: `env:NAME` or `file:PATH`, resolved once at start. Literals are refused. */
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { ConfigError } from '../../core/index.js';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** True when `value` is written as a reference (`env:…` or `file:…`). */
export function isSecretRef(value: unknown): value is string {
  return typeof value === 'string' && (value.startsWith('env:') || value.startsWith('file:'));
}

/**
 * The secret a reference names. `file:` paths are relative to `baseDir` (the config's folder);
 * a file's trailing newline is dropped. `path` names the JSON path in errors; the value never
 * appears in an error.
 *
 * @throws {ConfigError} ERR_CONFIG_SECRET_LITERAL, ERR_CONFIG_SECRET_UNRESOLVED, ERR_CONFIG_INVALID
 */
export function resolveSecret(value: unknown, path: string, env: NodeJS.ProcessEnv, baseDir: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new ConfigError('ERR_CONFIG_INVALID', `${path} must be an env:NAME or file:PATH reference`);
  if (!isSecretRef(value)) throw new ConfigError('ERR_CONFIG_SECRET_LITERAL', `${path} holds a literal secret; write env:NAME or file:PATH`);
  if (value.startsWith('env:')) {
    const name = value.slice(4);
    if (!ENV_NAME.test(name)) throw new ConfigError('ERR_CONFIG_INVALID', `${path}: "${name}" is not an environment variable name`);
    const secret = env[name];
    if (secret === undefined || secret === '') throw new ConfigError('ERR_CONFIG_SECRET_UNRESOLVED', `${path}: environment variable ${name} is not set`);
    return secret;
  }
  const file = value.slice(5);
  if (file === '') throw new ConfigError('ERR_CONFIG_INVALID', `${path}: file: needs a path`);
  const full = isAbsolute(file) ? file : resolve(baseDir, file);
  let text: string;
  try {
    text = readFileSync(full, 'utf8');
  } catch (cause) {
    throw new ConfigError('ERR_CONFIG_SECRET_UNRESOLVED', `${path}: ${full} could not be read`, { cause });
  }
  const secret = text.replace(/\r?\n$/, '');
  if (secret === '') throw new ConfigError('ERR_CONFIG_SECRET_UNRESOLVED', `${path}: ${full} is empty`);
  return secret;
}
