/** PROTOCOL §5 end-to-end encryption: crypto_kx roles, secretstream framing, §5.5 vectors; §4.7 multipart. */
import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import sodium from 'libsodium-wrappers';
import {
  E2E_ABYTES,
  E2E_HEADER_BYTES,
  E2E_KEY_BYTES,
  E2EReceiver,
  E2ESender,
  clientSessionKeys,
  type CryptoBackendName,
  cryptoBackendName,
  ensureCryptoReady,
  generateKxKeyPair,
  type KxKeyPair,
  parseMultipart,
  serverSessionKeys,
} from '../../connector/ziti/e2e.js';
import { DarkhookError, ZitiError } from '../../core/index.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// PROTOCOL.md §5.5 (computed with §5.4; cross-checked with Python `cryptography` and libsodium-wrappers).
const V = {
  clientSk: hex('1111111111111111111111111111111111111111111111111111111111111111'),
  clientPk: '7b4e909bbe7ffe44c465a220037d608ee35897d31ef972f07f74892cb0f73f13',
  serverSk: hex('2222222222222222222222222222222222222222222222222222222222222222'),
  serverPk: '0faa684ed28867b97f4a6a2dee5df8ce974e76b7018e3f22a1c4cf2678570f20',
  clientRx: '978ca0966b217c096a6ea3475f6ab898fcb7877fe9fd294fe596431b23ef063e',
  clientTx: '92a738c1b7410e7ede45a05b163dc036a714aa22aebf78c476e7066c698fc341',
  header: hex('000102030405060708090a0b0c0d0e0f1011121314151617'),
  push1: { plain: 'hello ziti', sealed: '9ca5cf2e2d79a1202d498e3bebe02c0daeda6fe0c439a1f35c2f20' },
  push2: { plain: 'second message!!', sealed: '9a81f0d3d02973b3b3a4af87faceab61ab3af64910da4491927479d07830f0e376' },
};

/** Asserts `fn` throws a ZitiError with `code`. */
function throwsCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ZitiError, `expected ZitiError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

/** Poly1305 (RFC 8439 §2.5) with BigInt: slow and obviously right, for the reference below only. */
function poly1305(key: Uint8Array, msg: Uint8Array): Buffer {
  const le = (b: Uint8Array): bigint => BigInt(`0x${Buffer.from(b).reverse().toString('hex') || '0'}`);
  const p = (1n << 130n) - 5n;
  const r = le(key.subarray(0, 16)) & 0x0ffffffc0ffffffc0ffffffc0fffffffn;
  let acc = 0n;
  for (let i = 0; i < msg.length; i += 16) {
    const chunk = msg.subarray(i, i + 16);
    acc = ((acc + le(chunk) + (1n << BigInt(8 * chunk.length))) * r) % p;
  }
  const tag = (acc + le(key.subarray(16, 32))) & ((1n << 128n) - 1n);
  return Buffer.from(tag.toString(16).padStart(32, '0'), 'hex').reverse();
}

/** IETF ChaCha20 keystream XOR from block `counter` (node:crypto's 16-byte IV = LE32 counter ‖ nonce). */
function chacha20(key: Uint8Array, nonce: Uint8Array, counter: number, input: Uint8Array): Buffer {
  const iv = Buffer.alloc(16);
  iv.writeUInt32LE(counter, 0);
  iv.set(nonce, 4);
  return createCipheriv('chacha20', key, iv).update(input);
}

/** HChaCha20 from one ChaCha20 block minus the initial state (PROTOCOL §5.4, Node building blocks). */
function hchacha20(key: Uint8Array, input16: Uint8Array): Buffer {
  const block = createCipheriv('chacha20', key, input16).update(Buffer.alloc(64));
  const sigma = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574];
  const out = Buffer.alloc(32);
  for (let i = 0; i < 4; i++) {
    out.writeUInt32LE((block.readUInt32LE(4 * i) - sigma[i]!) >>> 0, 4 * i);
    out.writeUInt32LE((block.readUInt32LE(48 + 4 * i) - Buffer.from(input16).readUInt32LE(4 * i)) >>> 0, 16 + 4 * i);
  }
  return out;
}

/**
 * The §5.4 push algorithm built independently of libsodium (node:crypto ChaCha20 + BigInt Poly1305),
 * for a caller-chosen header: libsodium's init_push always draws a random one, and the standard
 * libsodium-wrappers build lacks the HChaCha20/Poly1305 primitives.
 */
function referencePush(key: Uint8Array, header: Uint8Array, messages: Uint8Array[]): Buffer[] {
  const k = hchacha20(key, header.subarray(0, 16));
  const nonce = Buffer.alloc(12);
  nonce.writeUInt32LE(1, 0);
  nonce.set(header.subarray(16, 24), 4);
  return messages.map((m) => {
    const polyKey = chacha20(k, nonce, 0, Buffer.alloc(64)).subarray(0, 32);
    const block = chacha20(k, nonce, 1, Buffer.alloc(64)); // (tag 0 ‖ 63 zeros) XOR keystream
    const c = chacha20(k, nonce, 2, m);
    const lengths = Buffer.alloc(16);
    lengths.writeBigUInt64LE(BigInt(64 + m.length), 8);
    const pad = Buffer.alloc((0x10 - 64 + m.length) & 0xf); // = mlen mod 16, not the RFC 8439 pad
    const mac = poly1305(polyKey, Buffer.concat([block, c, pad, lengths]));
    for (let i = 0; i < 8; i++) nonce[4 + i]! ^= mac[i]!;
    nonce.writeUInt32LE((nonce.readUInt32LE(0) + 1) >>> 0, 0);
    return Buffer.concat([block.subarray(0, 1), c, mac]);
  });
}

/** A connected dialer/host pair: keys agreed and each side's receiver built from the other's header. */
function connectPair() {
  const dialerPair = generateKxKeyPair();
  const hostPair = generateKxKeyPair();
  const dialerKeys = clientSessionKeys(dialerPair, hostPair.publicKey);
  const hostKeys = serverSessionKeys(hostPair, dialerPair.publicKey);
  const dialerTx = new E2ESender(dialerKeys.tx);
  const hostTx = new E2ESender(hostKeys.tx);
  return {
    dialerPair,
    hostPair,
    dialer: { tx: dialerTx, rx: new E2EReceiver(dialerKeys.rx, hostTx.header) },
    host: { tx: hostTx, rx: new E2EReceiver(hostKeys.rx, dialerTx.header) },
  };
}

// Runs first, before anything awaited ensureCryptoReady() in this process.
test('sync functions refuse to run before ensureCryptoReady() resolved', () => {
  throwsCode(() => generateKxKeyPair(), 'ERR_ZITI_E2E_NOT_READY');
  throwsCode(() => new E2ESender(new Uint8Array(32)), 'ERR_ZITI_E2E_NOT_READY');
  throwsCode(() => new E2EReceiver(new Uint8Array(32), new Uint8Array(24)), 'ERR_ZITI_E2E_NOT_READY');
});

test('ensureCryptoReady() is memoised and picks the native backend when sodium-native loads', async () => {
  assert.equal(cryptoBackendName(), undefined);
  const first = ensureCryptoReady();
  assert.equal(ensureCryptoReady(), first);
  assert.equal(ensureCryptoReady({}), first);
  await first;
  // sodium-native is an installed optional dependency here: 'wasm' would mean the fallback kicked in.
  assert.equal(cryptoBackendName(), 'native');
  await sodium.ready; // for the raw primitives used by the reference construction
  assert.deepEqual([E2E_HEADER_BYTES, E2E_ABYTES, E2E_KEY_BYTES], [24, 17, 32]);
});

test('ensureCryptoReady() refuses bad options synchronously', () => {
  const optionCode = (fn: () => unknown, code: string): void => {
    assert.throws(fn, (err: unknown) => err instanceof DarkhookError && err.code === code);
  };
  optionCode(() => ensureCryptoReady({ backend: 'js' as CryptoBackendName }), 'ERR_OPTION_INVALID');
  optionCode(() => ensureCryptoReady({ backnd: 'wasm' } as never), 'ERR_OPTION_UNKNOWN');
  optionCode(() => ensureCryptoReady('wasm' as never), 'ERR_OPTION_INVALID');
  assert.equal(cryptoBackendName(), 'native', 'a refused call changes nothing');
});

test('§5.5 public keys are X25519(sk, base)', () => {
  assert.equal(toHex(sodium.crypto_scalarmult_base(V.clientSk)), V.clientPk);
  assert.equal(toHex(sodium.crypto_scalarmult_base(V.serverSk)), V.serverPk);
});

test('§5.4 reference push reproduces the §5.5 ciphertexts byte for byte', () => {
  const [one, two] = referencePush(hex(V.clientTx), V.header, [
    Buffer.from(V.push1.plain),
    Buffer.from(V.push2.plain),
  ]);
  assert.equal(toHex(one!), V.push1.sealed);
  assert.equal(toHex(two!), V.push2.sealed);
});

/** Every test below runs once per backend: the wire format and the error codes must not depend on it. */
function backendSuite(backend: CryptoBackendName): void {
  describe(`on the ${backend} backend`, () => {
    // Fails (rather than skips) when the backend cannot load: sodium-native is installed in CI.
    before(() => ensureCryptoReady({ backend }));

    test(`cryptoBackendName() is ${backend}`, () => {
      assert.equal(cryptoBackendName(), backend);
    });

    test('§5.2/§5.5 dialer is the kx client, host the kx server; client.tx = server.rx', () => {
      const client: KxKeyPair = { publicKey: hex(V.clientPk), privateKey: V.clientSk };
      const server: KxKeyPair = { publicKey: hex(V.serverPk), privateKey: V.serverSk };
      const c = clientSessionKeys(client, server.publicKey);
      const s = serverSessionKeys(server, client.publicKey);
      assert.equal(toHex(c.rx), V.clientRx);
      assert.equal(toHex(c.tx), V.clientTx);
      assert.equal(toHex(s.rx), V.clientTx);
      assert.equal(toHex(s.tx), V.clientRx);
    });

    test('§5.5 E2EReceiver(client_tx, header) opens both vector messages (wire compatibility)', () => {
      const rx = new E2EReceiver(hex(V.clientTx), V.header);
      assert.equal(rx.open(hex(V.push1.sealed)).toString(), V.push1.plain);
      assert.equal(rx.open(hex(V.push2.sealed)).toString(), V.push2.plain);
    });

    test('§5.3/§5.4 E2ESender output equals the reference algorithm for its own header (all pad lengths)', () => {
      const key = sodium.crypto_secretstream_xchacha20poly1305_keygen();
      const tx = new E2ESender(key);
      assert.equal(tx.header.length, E2E_HEADER_BYTES);
      const sizes = [0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1000, 65536];
      const messages = sizes.map((n) => randomBytes(n));
      const expected = referencePush(key, tx.header, messages);
      messages.forEach((m, i) => {
        const sealed = tx.seal(m);
        assert.equal(sealed.length, m.length + E2E_ABYTES);
        assert.ok(sealed.equals(expected[i]!), `message of ${m.length} bytes`);
      });
    });

    test('round trip dialer ↔ host in both directions, many messages incl. empty and 64 KiB', () => {
      const { dialer, host } = connectPair();
      const sizes = [0, 1, 16, 17, 100, 1024, 4096, 16384, 65536, 0, 3, 65535];
      for (let round = 0; round < 20; round++) {
        for (const n of sizes) {
          const up = randomBytes(n);
          assert.deepEqual(host.rx.open(dialer.tx.seal(up)), up);
          const down = randomBytes(n);
          assert.deepEqual(dialer.rx.open(host.tx.seal(down)), down);
        }
      }
      assert.equal(host.rx.poisoned, false);
    });

    test('seal() and open() return fresh Buffers that later calls never overwrite', () => {
      const { dialer, host } = connectPair();
      const plains = [0, 1, 100, 4096, 65536, 7, 1].map((n) => randomBytes(n));
      const sealed = plains.map((m) => dialer.tx.seal(m));
      const sealedCopies = sealed.map((c) => Buffer.from(c));
      const opened = sealed.map((c) => host.rx.open(c));
      const more = dialer.tx.seal(randomBytes(65536)); // scribble over anything a backend might reuse
      host.rx.open(more);
      sealed.forEach((c, i) => assert.ok(c.equals(sealedCopies[i]!), `sealed #${i} changed after later calls`));
      opened.forEach((m, i) => assert.deepEqual(m, plains[i], `opened #${i} changed after later calls`));
    });

    test('seal() refuses a non-Uint8Array with ERR_OPTION_INVALID and keeps the stream usable', () => {
      const { dialer, host } = connectPair();
      assert.throws(() => dialer.tx.seal('text' as never), (err: unknown) => err instanceof DarkhookError && err.code === 'ERR_OPTION_INVALID');
      assert.equal(host.rx.open(dialer.tx.seal(Buffer.from('after'))).toString(), 'after');
    });

    test('a tampered byte in tag, ciphertext or MAC ⇒ DECRYPT_FAILED and the receiver stays poisoned', () => {
      for (const where of [0, 5, E2E_ABYTES + 10 - 1]) {
        const { dialer, host } = connectPair();
        const sealed = dialer.tx.seal(Buffer.from('0123456789'));
        sealed[where]! ^= 0x01;
        throwsCode(() => host.rx.open(sealed), 'ERR_ZITI_E2E_DECRYPT_FAILED');
        assert.equal(host.rx.poisoned, true);
        const good = dialer.tx.seal(Buffer.from('next'));
        throwsCode(() => host.rx.open(good), 'ERR_ZITI_E2E_DECRYPT_FAILED');
      }
    });

    test('reordered, replayed and dropped messages fail', () => {
      const reordered = connectPair();
      const a = reordered.dialer.tx.seal(Buffer.from('a'));
      const b = reordered.dialer.tx.seal(Buffer.from('b'));
      throwsCode(() => reordered.host.rx.open(b), 'ERR_ZITI_E2E_DECRYPT_FAILED');
      throwsCode(() => reordered.host.rx.open(a), 'ERR_ZITI_E2E_DECRYPT_FAILED');

      const replayed = connectPair();
      const once = replayed.dialer.tx.seal(Buffer.from('once'));
      assert.equal(replayed.host.rx.open(once).toString(), 'once');
      throwsCode(() => replayed.host.rx.open(once), 'ERR_ZITI_E2E_DECRYPT_FAILED');

      const dropped = connectPair();
      dropped.dialer.tx.seal(Buffer.from('lost'));
      throwsCode(() => dropped.host.rx.open(dropped.dialer.tx.seal(Buffer.from('x'))), 'ERR_ZITI_E2E_DECRYPT_FAILED');
    });

    test('input shorter than 17 bytes ⇒ DECRYPT_FAILED and poisons', () => {
      const { host } = connectPair();
      throwsCode(() => host.rx.open(new Uint8Array(16)), 'ERR_ZITI_E2E_DECRYPT_FAILED');
      assert.equal(host.rx.poisoned, true);
    });

    test('a header of 23, 25 or header+ciphertext bytes is refused', () => {
      const key = new Uint8Array(32);
      for (const n of [0, 23, 25, 24 + 17]) {
        throwsCode(() => new E2EReceiver(key, new Uint8Array(n)), 'ERR_ZITI_E2E_HEADER_INVALID');
      }
    });

    test('a wrong peer key fails: bad length, low-order point, third party, swapped roles', () => {
      const own = generateKxKeyPair();
      for (const n of [0, 31, 33]) {
        throwsCode(() => clientSessionKeys(own, new Uint8Array(n)), 'ERR_ZITI_E2E_PEER_KEY_INVALID');
        throwsCode(() => serverSessionKeys(own, new Uint8Array(n)), 'ERR_ZITI_E2E_PEER_KEY_INVALID');
      }
      // 0 and a point of order 8 (from the X25519 low-order list): the shared secret would be all zeros.
      for (const low of ['00'.repeat(32), 'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800']) {
        throwsCode(() => clientSessionKeys(own, hex(low)), 'ERR_ZITI_E2E_PEER_KEY_INVALID');
        throwsCode(() => serverSessionKeys(own, hex(low)), 'ERR_ZITI_E2E_PEER_KEY_INVALID');
      }

      const dialer = generateKxKeyPair();
      const host = generateKxKeyPair();
      const mallory = generateKxKeyPair();
      const tx = new E2ESender(clientSessionKeys(dialer, host.publicKey).tx);
      const sealed = tx.seal(Buffer.from('for the host only'));
      const thirdParty = new E2EReceiver(serverSessionKeys(host, mallory.publicKey).rx, tx.header);
      throwsCode(() => thirdParty.open(sealed), 'ERR_ZITI_E2E_DECRYPT_FAILED');
      // Both ends acting as kx client derive mismatched keys.
      const swapped = new E2EReceiver(clientSessionKeys(host, dialer.publicKey).rx, tx.header);
      throwsCode(() => swapped.open(sealed), 'ERR_ZITI_E2E_DECRYPT_FAILED');
    });

    test('bad local keys are refused with KEY_INVALID', () => {
      const own = generateKxKeyPair();
      const peer = generateKxKeyPair().publicKey;
      throwsCode(() => clientSessionKeys({ ...own, privateKey: new Uint8Array(31) }, peer), 'ERR_ZITI_E2E_KEY_INVALID');
      throwsCode(() => new E2ESender(new Uint8Array(31)), 'ERR_ZITI_E2E_KEY_INVALID');
      throwsCode(() => new E2EReceiver(new Uint8Array(33), new Uint8Array(24)), 'ERR_ZITI_E2E_KEY_INVALID');
    });

    test('an authentic message with a tag other than MESSAGE ⇒ TAG_UNEXPECTED and poisons', () => {
      const key = sodium.crypto_secretstream_xchacha20poly1305_keygen();
      const { state, header } = sodium.crypto_secretstream_xchacha20poly1305_init_push(key);
      const final = sodium.crypto_secretstream_xchacha20poly1305_push(
        state,
        Buffer.from('bye'),
        null,
        sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL,
      );
      const rx = new E2EReceiver(key, header);
      throwsCode(() => rx.open(final), 'ERR_ZITI_E2E_TAG_UNEXPECTED');
      assert.equal(rx.poisoned, true);
    });

    test('destroy() is idempotent and later seal/open fail with DESTROYED', () => {
      const { dialer, host } = connectPair();
      const sealed = dialer.tx.seal(Buffer.from('late'));
      dialer.tx.destroy();
      dialer.tx.destroy();
      host.rx.destroy();
      throwsCode(() => dialer.tx.seal(Buffer.from('x')), 'ERR_ZITI_E2E_DESTROYED');
      throwsCode(() => host.rx.open(sealed), 'ERR_ZITI_E2E_DESTROYED');
    });

    if (backend === 'wasm') {
      test('destroy() frees the stream states libsodium-wrappers would leak', () => {
        // Probe libsodium's allocator: leaked 52-byte states would push a fresh block ~100 KB further up.
        const lib = (sodium as unknown as { libsodium: { _malloc(n: number): number; _free(p: number): void } }).libsodium;
        const probe = (): number => {
          const address = lib._malloc(4096);
          lib._free(address);
          return address;
        };
        const key = randomBytes(32);
        const before = probe();
        for (let i = 0; i < 1000; i++) {
          const tx = new E2ESender(key);
          new E2EReceiver(key, tx.header).destroy();
          tx.destroy();
        }
        assert.ok(probe() - before < 1000 * 52, 'stream states were not returned to the allocator');
      });
    }

    test('states freed by the garbage collector leave libsodium usable', async () => {
      setFlagsFromString('--expose-gc');
      const gc = runInNewContext('gc') as () => void;
      for (let i = 0; i < 50; i++) {
        const { dialer, host } = connectPair();
        host.rx.open(dialer.tx.seal(Buffer.from('dropped without destroy()')));
      }
      for (let i = 0; i < 3; i++) {
        gc();
        await new Promise((resolve) => setTimeout(resolve, 20)); // let FinalizationRegistry callbacks run
      }
      const { dialer, host } = connectPair();
      assert.equal(host.rx.open(dialer.tx.seal(Buffer.from('still fine'))).toString(), 'still fine');
    });

    test('errors never carry key material', () => {
      const key = randomBytes(32);
      const rx = new E2EReceiver(key, new Uint8Array(24));
      try {
        rx.open(new Uint8Array(40));
        assert.fail('expected a failure');
      } catch (err) {
        const text = JSON.stringify(err) + String(err);
        assert.ok(!text.includes(toHex(key)) && !text.includes(Buffer.from(key).toString('base64')));
      }
    });
  });
}

backendSuite('native');
backendSuite('wasm');

test('§4.7 parseMultipart splits uint16-LE-length-prefixed parts', () => {
  const body = Buffer.from('0300616263' + '0000' + '0100ff', 'hex');
  const parts = parseMultipart(body);
  assert.deepEqual(
    parts.map((p) => p.toString('hex')),
    ['616263', '', 'ff'],
  );
  assert.equal(parts[0]!.buffer, body.buffer, 'parts are views, not copies');
  assert.deepEqual(parseMultipart(Buffer.alloc(0)), []);
  const big = Buffer.alloc(2 + 65535, 7);
  big.writeUInt16LE(65535, 0);
  assert.equal(parseMultipart(big)[0]!.length, 65535);
});

test('§4.7 parseMultipart refuses overruns and truncated length prefixes', () => {
  for (const bad of ['0400616263', '01', '0300616263' + '05', '0100']) {
    throwsCode(() => parseMultipart(Buffer.from(bad, 'hex')), 'ERR_ZITI_E2E_MULTIPART_INVALID');
  }
});
