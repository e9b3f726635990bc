/** Typed `diagnostics_channel` channels: one name, one payload type, checked where it is published and where it is read. */
import { type Channel, channel, subscribe, unsubscribe } from 'node:diagnostics_channel';

/** A `diagnostics_channel` channel whose payloads have type `T`. */
export interface TypedChannel<T extends object> {
  /** The channel name, `darkhook:<area>:<event>`; plain `diagnostics_channel.subscribe(name)` works too. */
  readonly name: string;
  /** True while someone listens: check it before building a payload that costs something. */
  readonly hasSubscribers: boolean;
  /** Hand `payload` to every listener, synchronously. */
  publish(payload: T): void;
  /** Listen; returns the function that stops listening. */
  subscribe(listener: (payload: T, name: string) => void): () => void;
}

/**
 * The channel `name` with payload type `T` (the type is the caller's promise: nothing is checked at run time).
 *
 * @example
 * export const stored = typedChannel<StoredEvent>('darkhook:receiver:stored');
 * if (stored.hasSubscribers) stored.publish({ requestId, ids });
 */
export function typedChannel<T extends object>(name: string): TypedChannel<T> {
  const ch: Channel = channel(name);
  return Object.freeze({
    name,
    get hasSubscribers() {
      return ch.hasSubscribers;
    },
    publish: (payload: T): void => ch.publish(payload),
    subscribe(listener: (payload: T, name: string) => void): () => void {
      // Through the module-level subscribe: it keeps the channel alive (a channel object alone may be collected).
      const onMessage = (message: unknown, channelName: string | symbol): void => listener(message as T, String(channelName));
      subscribe(name, onMessage);
      return () => void unsubscribe(name, onMessage);
    },
  });
}
