/** The SDK's `diagnostics_channel` names and payload types: each payload is a union on `event`, never a key or a secret. */
import { typedChannel } from '../../core/channels.js';
import type { CryptoBackendName } from './e2e-backend.js';

/** Names of the channels the Ziti SDK publishes on. */
export const ZITI_CHANNELS = Object.freeze({
  /** {@link AuthEvent}: a controller session was opened or (OIDC) its access token refreshed. */
  auth: 'darkhook:ziti:auth',
  /** {@link ControllerEvent}: the cluster's controller list changed, one was unreachable, or calls moved to another (HA). */
  controller: 'darkhook:ziti:controller',
  /** {@link DialEvent}: a dial was refused by the router, or connected. */
  dial: 'darkhook:ziti:dial',
  /** {@link BindEvent}: the steps of hosting a service, and refused incoming dials. */
  bind: 'darkhook:ziti:bind',
  /** {@link LinkEvent}: an edge-router link connected, measured, closed, or saw an unknown connection. */
  link: 'darkhook:ziti:link',
  /** {@link E2eEvent}: the end-to-end crypto backend that became active. */
  e2e: 'darkhook:ziti:e2e',
  /** {@link EnrollEvent}: the steps of an enrollment. */
  enroll: 'darkhook:ziti:enroll',
} as const);

/** Published on `darkhook:ziti:auth`. */
export type AuthEvent =
  | {
      readonly event: 'authenticated';
      /** How the session was opened: legacy API session or OIDC tokens. */
      readonly mode: 'legacy' | 'oidc';
      /** The controller's origin, `https://host:port`. */
      readonly controller: string;
      readonly identity: string;
      readonly expiresAt: Date | undefined;
    }
  | { readonly event: 'refreshed'; readonly mode: 'oidc'; readonly controller: string; readonly expiresAt: Date | undefined };

/** Published on `darkhook:ziti:controller`. */
export type ControllerEvent =
  | { readonly event: 'list'; readonly controllers: readonly string[] }
  | { readonly event: 'switched'; readonly from: string; readonly to: string }
  | { readonly event: 'unavailable'; readonly controller: string; readonly reason: string };

/** Published on `darkhook:ziti:dial`. */
export type DialEvent =
  | { readonly event: 'refused'; readonly service: string; readonly reason: string }
  | { readonly event: 'connected'; readonly service: string; readonly connId: number; readonly encrypted: boolean; readonly router: string };

/** Published on `darkhook:ziti:bind`. */
export type BindEvent =
  | { readonly event: 'bind-sent'; readonly service: string; readonly router: string }
  | { readonly event: 'bound'; readonly service: string; readonly router: string }
  | { readonly event: 'terminator-created'; readonly service: string }
  | { readonly event: 'dial-invalid'; readonly service: string; readonly code: string }
  | { readonly event: 'dial-failed'; readonly service: string; readonly reason: string };

/** Published on `darkhook:ziti:link`. */
export type LinkEvent =
  | { readonly event: 'connected'; readonly address: string; readonly routerId: string }
  | { readonly event: 'latency'; readonly address: string; readonly ms: number }
  | { readonly event: 'unknown-conn'; readonly address: string; readonly connId: number; readonly contentType: number }
  | { readonly event: 'closed'; readonly address: string; readonly code: string }
  | { readonly event: 'token-updated'; readonly address: string }
  | { readonly event: 'token-refused'; readonly address: string; readonly reason: string };

/** Published on `darkhook:ziti:e2e`. */
export interface E2eEvent {
  readonly event: 'backend';
  readonly backend: CryptoBackendName;
  readonly requested: 'auto' | CryptoBackendName;
  /** Why `auto` fell back to WebAssembly: the addon's load error. */
  readonly nativeError?: unknown;
}

/** Published on `darkhook:ziti:enroll`. */
export type EnrollEvent =
  | {
      readonly event: 'token-verified' | 'enrolled';
      /** The controller's origin, `https://host:port`. */
      readonly issuer: string;
      readonly identityId: string;
    }
  /** The cluster's controllers recorded in the identity's `ztAPIs`. */
  | { readonly event: 'controllers'; readonly controllers: readonly string[] }
  /** The controller list could not be read (an older controller, or no permission): `ztAPIs` keeps the issuer only. */
  | { readonly event: 'controllers-unknown'; readonly code: string };

/** The channels themselves, typed by their payloads. */
export const zitiChannels = Object.freeze({
  auth: typedChannel<AuthEvent>(ZITI_CHANNELS.auth),
  controller: typedChannel<ControllerEvent>(ZITI_CHANNELS.controller),
  dial: typedChannel<DialEvent>(ZITI_CHANNELS.dial),
  bind: typedChannel<BindEvent>(ZITI_CHANNELS.bind),
  link: typedChannel<LinkEvent>(ZITI_CHANNELS.link),
  e2e: typedChannel<E2eEvent>(ZITI_CHANNELS.e2e),
  enroll: typedChannel<EnrollEvent>(ZITI_CHANNELS.enroll),
});
