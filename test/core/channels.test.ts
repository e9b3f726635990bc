/** typedChannel, and the channel tables: one name per channel, each of them a plain `diagnostics_channel` too. */
import assert from 'node:assert/strict';
import { channel, subscribe, unsubscribe } from 'node:diagnostics_channel';
import { describe, test } from 'node:test';
import { SENDER_CHANNELS, senderChannels } from '../../connector/sender/channels.js';
import { ZITI_CHANNELS, zitiChannels } from '../../connector/ziti/channels.js';
import { typedChannel } from '../../core/channels.js';
import { RECEIVER_CHANNELS, receiverChannels } from '../../receiver/ingest/channels.js';
import { SINK_CHANNELS, sinkChannels } from '../../receiver/sinks/channels.js';

interface Ping {
  readonly n: number;
}

describe('typedChannel', () => {
  test('publishes to its listeners and to plain diagnostics_channel subscribers of the same name; unsubscribe stops it', () => {
    const ping = typedChannel<Ping>('darkhook:test:ping');
    assert.equal(ping.hasSubscribers, false);
    const typed: [Ping, string][] = [];
    const plain: unknown[] = [];
    const onPlain = (message: unknown): void => void plain.push(message);
    const stop = ping.subscribe((payload, name) => typed.push([payload, name]));
    subscribe('darkhook:test:ping', onPlain);
    assert.equal(ping.hasSubscribers, true);
    assert.equal(channel('darkhook:test:ping').hasSubscribers, true, 'the same node channel');
    const payload = { n: 1 };
    ping.publish(payload);
    assert.deepEqual(typed, [[payload, 'darkhook:test:ping']]);
    assert.equal(typed[0]![0], payload, 'the payload object itself, not a copy');
    assert.deepEqual(plain, [payload]);
    stop();
    unsubscribe('darkhook:test:ping', onPlain);
    assert.equal(ping.hasSubscribers, false);
    ping.publish({ n: 2 });
    assert.equal(typed.length, 1);
    assert.equal(plain.length, 1);
  });

  test('payload types are checked where they are published', () => {
    const ping = typedChannel<Ping>('darkhook:test:typed');
    // @ts-expect-error: a payload of the wrong shape does not compile.
    ping.publish({ n: 'one' });
    // @ts-expect-error: nor does a ziti dial event missing its service.
    zitiChannels.dial.publish({ event: 'refused', reason: 'no terminators' });
    assert.equal(ping.name, 'darkhook:test:typed');
  });

  test('every table names each channel once, as darkhook:<area>:<event>, and its typed channels carry those names', () => {
    const tables = [
      [SENDER_CHANNELS, senderChannels, 'sender'],
      [ZITI_CHANNELS, zitiChannels, 'ziti'],
      [RECEIVER_CHANNELS, receiverChannels, 'receiver'],
      [SINK_CHANNELS, sinkChannels, 'sinks'],
    ] as const;
    const all: string[] = [];
    for (const [names, channels, area] of tables) {
      assert.deepEqual(Object.keys(channels).sort(), Object.keys(names).sort(), area);
      for (const [key, name] of Object.entries(names)) {
        assert.match(name, new RegExp(`^darkhook:${area}:[a-z0-9-]+$`));
        assert.equal((channels as Record<string, { name: string }>)[key]!.name, name);
        all.push(name);
      }
    }
    assert.equal(new Set(all).size, all.length, 'no name used twice');
  });
});
