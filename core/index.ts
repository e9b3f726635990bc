/** Public entry of darkhook's error layer. */
export { ERROR_CATALOGUE, isErrorCode } from './catalogue.js';
export type { ErrorCode } from './catalogue.js';
export { CliError, ConfigError, DarkhookError, FabricError, FileError, OptionError, PkiError, ReceiverError, SendError, WebhookError, ZitiError } from './errors.js';
export type { DarkhookErrorOptions } from './errors.js';
