// Message signing, sealing and sequence tracking (src/sync/crypto): round trips, every kind
// of refusal, and a property that no byte of a signed message can change unnoticed.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  acceptSeq,
  canonicalJson,
  encodeMessage,
  open,
  openFromAppliance,
  openMessage,
  parseCanonical,
  publicKeyFromRaw,
  rawPublicKey,
  seal,
  sealToCentre,
  signMessage,
  verifyMessage,
  type Message,
} from '../../src/sync/crypto/index.ts';

const centre = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');
const appliance = generateKeyPairSync('x25519');
const stranger = generateKeyPairSync('x25519');
const ID = 'outpost-a1';

function message(extra: Partial<Message> = {}): Message {
  return signMessage({ appliance: ID, seq: 7, kind: 'delta', payload: { secrets: [{ id: 1, name: 'db' }] }, ...extra } as never, centre.privateKey);
}

function resign(fields: Record<string, unknown>): Record<string, unknown> {
  return fields; // a changed field without a new signature
}

describe('canonical JSON', () => {
  it('sorts keys and refuses non-canonical bytes', () => {
    assert.equal(canonicalJson({ b: 1, a: [true, null, 'x'] }), '{"a":[true,null,"x"],"b":1}');
    assert.deepEqual(parseCanonical('{"a":1}'), { a: 1 });
    for (const bad of ['{ "a":1}', '{"b":1,"a":2}', '{"a":1.0}', '{"a":1,"a":1}', '{"a":"\\u0041"}', 'nope']) {
      assert.equal(parseCanonical(bad), undefined, bad);
    }
    assert.throws(() => canonicalJson({ a: Number.NaN }));
  });
});

describe('signed messages', () => {
  it('round-trips through the wire bytes', () => {
    const msg = message();
    const res = verifyMessage(encodeMessage(msg), centre.publicKey, ID);
    assert.equal(res.ok, true);
    assert.deepEqual(res.ok && res.message, msg);
    assert.equal(verifyMessage(msg, centre.publicKey, ID).ok, true);
  });

  it('rejects a tampered payload, signature or header field', () => {
    const msg = message();
    const tampered: Array<Record<string, unknown>> = [
      resign({ ...msg, payload: { secrets: [{ id: 1, name: 'dc' }] } }),
      resign({ ...msg, seq: 8 }),
      resign({ ...msg, kind: 'snapshot' }),
      resign({ ...msg, issued_at: '2020-01-01T00:00:00.000Z' }),
      { ...msg, sig: Buffer.from(Buffer.from(msg.sig, 'base64').map((b, i) => (i === 0 ? b ^ 1 : b))).toString('base64') },
      { ...message({ seq: 9 } as Partial<Message>), sig: msg.sig },
    ];
    for (const t of tampered) {
      const res = verifyMessage(t, centre.publicKey, ID);
      assert.equal(res.ok ? 'ok' : res.reason, 'bad-signature', JSON.stringify(t));
    }
  });

  it('rejects a message signed by another key', () => {
    const forged = signMessage({ appliance: ID, seq: 1, kind: 'delta', payload: 1 }, other.privateKey);
    const res = verifyMessage(forged, centre.publicKey, ID);
    assert.equal(res.ok ? 'ok' : res.reason, 'bad-signature');
  });

  it('rejects a message for another appliance, even when well signed', () => {
    const res = verifyMessage(message({ appliance: 'outpost-b2' } as Partial<Message>), centre.publicKey, ID);
    assert.equal(res.ok ? 'ok' : res.reason, 'wrong-appliance');
  });

  it('rejects an unsigned message', () => {
    const { sig: _sig, ...bare } = message();
    for (const m of [bare, { ...bare, sig: '' }, { ...bare, sig: null }]) {
      const res = verifyMessage(m, centre.publicKey, ID);
      assert.equal(res.ok ? 'ok' : res.reason, 'unsigned');
    }
  });

  it('calls malformed input malformed and never throws', () => {
    const msg = message();
    const cases: unknown[] = [
      null,
      42,
      [],
      'garbage',
      Buffer.from('{"v":1'),
      { ...msg, v: 2 },
      { ...msg, seq: -1 },
      { ...msg, seq: 1.5 },
      { ...msg, extra: 1 },
      { ...msg, sealed: { alg: 'x', epk: '', iv: '', ct: '' } },
      (({ payload: _p, ...rest }) => rest)(msg),
    ];
    for (const c of cases) {
      const res = verifyMessage(c, centre.publicKey, ID);
      assert.equal(res.ok ? 'ok' : res.reason, 'malformed', JSON.stringify(c));
    }
  });

  it('property: any change to any byte of a signed message is rejected', () => {
    const bytes = encodeMessage(message());
    fc.assert(
      fc.property(fc.nat({ max: bytes.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, xor) => {
        const copy = Buffer.from(bytes);
        copy[at] ^= xor;
        return !verifyMessage(copy, centre.publicKey, ID).ok;
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.nat({ max: bytes.length }), fc.uint8Array({ minLength: 1, maxLength: 4 }), fc.nat({ max: 3 }), (at, insert, drop) => {
        const copy = Buffer.concat([bytes.subarray(0, at), Buffer.from(insert), bytes.subarray(Math.min(bytes.length, at + drop))]);
        fc.pre(!copy.equals(bytes)); // an insertion that restores the dropped bytes is no change
        return !verifyMessage(copy, centre.publicKey, ID).ok;
      }),
      { numRuns: 1000 },
    );
  });
});

describe('acks', () => {
  it('take seq 0 (nothing issued yet); every other kind needs a positive seq', () => {
    const ack = signMessage({ appliance: ID, seq: 0, kind: 'ack', payload: { upTo: '01J0000000000000000000000A' } }, centre.privateKey);
    const res = verifyMessage(encodeMessage(ack), centre.publicKey, ID);
    assert.equal(res.ok && res.message.seq, 0);
    assert.throws(() => signMessage({ appliance: ID, seq: 0, kind: 'delta', payload: {} }, centre.privateKey), /positive/);
    const forged = { ...message(), seq: 0 };
    assert.equal((verifyMessage(forged, centre.publicKey, ID) as { reason?: string }).reason, 'malformed');
    for (const kind of ['snapshot', 'acks', 'ack-x']) {
      const zero = { v: 1, appliance: ID, seq: 0, kind, issued_at: new Date().toISOString(), payload: {}, sig: ack.sig };
      assert.equal((verifyMessage(zero, centre.publicKey, ID) as { reason?: string }).reason, 'malformed', kind);
    }
    assert.equal((verifyMessage({ ...ack, seq: -1 }, centre.publicKey, ID) as { reason?: string }).reason, 'malformed');
    // An ack at 0 is still signed: changing it to another seq breaks the signature.
    assert.equal((verifyMessage({ ...ack, seq: 1 }, centre.publicKey, ID) as { reason?: string }).reason, 'bad-signature');
  });
});

describe('change requests sealed to the centre', () => {
  const centreSeal = generateKeyPairSync('x25519');
  it('open only at the centre, for the same appliance and change id', () => {
    const sealed = sealToCentre({ password: 'n3w-pass' }, centreSeal.publicKey, { appliance: ID, changeId: 'ch-1' });
    assert.ok(!JSON.stringify(sealed).includes('n3w-pass'));
    const opened = openFromAppliance(sealed, centreSeal.privateKey, { appliance: ID, changeId: 'ch-1' });
    assert.deepEqual(opened, { ok: true, fields: { password: 'n3w-pass' } });
    assert.deepEqual(openFromAppliance(sealed, centreSeal.privateKey, { appliance: ID, changeId: 'ch-2' }), { ok: false, reason: 'cannot-open' });
    assert.deepEqual(openFromAppliance(sealed, centreSeal.privateKey, { appliance: 'outpost-b2', changeId: 'ch-1' }), { ok: false, reason: 'cannot-open' });
    assert.deepEqual(openFromAppliance(sealed, stranger.privateKey, { appliance: ID, changeId: 'ch-1' }), { ok: false, reason: 'cannot-open' });
    assert.deepEqual(openFromAppliance({ junk: 1 }, centreSeal.privateKey, { appliance: ID, changeId: 'ch-1' }), { ok: false, reason: 'malformed' });
    const notFields = seal('[1,2]', centreSeal.publicKey, { appliance: ID, seq: 0, kind: 'change:ch-3' });
    assert.deepEqual(openFromAppliance(notFields, centreSeal.privateKey, { appliance: ID, changeId: 'ch-3' }), { ok: false, reason: 'malformed' });
  });
});

describe('sealed payloads', () => {
  const aad = { appliance: ID, seq: 3, kind: 'secret' };
  it('open only with the right key and the right associated data', () => {
    const sealed = seal('hunter2', appliance.publicKey, aad);
    const opened = open(sealed, appliance.privateKey, aad);
    assert.equal(opened.ok && opened.payload.revealString(), 'hunter2');
    assert.equal(JSON.stringify(opened.ok && { p: opened.payload }), '{"p":"[secret]"}');
    assert.deepEqual(open(sealed, stranger.privateKey, aad), { ok: false, reason: 'cannot-open' });
    for (const wrong of [{ ...aad, seq: 4 }, { ...aad, kind: 'config' }, { ...aad, appliance: 'outpost-b2' }]) {
      assert.deepEqual(open(sealed, appliance.privateKey, wrong), { ok: false, reason: 'cannot-open' });
    }
    const ct = Buffer.from(sealed.ct, 'base64');
    ct[0] ^= 1;
    assert.deepEqual(open({ ...sealed, ct: ct.toString('base64') }, appliance.privateKey, aad), { ok: false, reason: 'cannot-open' });
    const epk = rawPublicKey(generateKeyPairSync('x25519').publicKey);
    assert.deepEqual(open({ ...sealed, epk }, appliance.privateKey, aad), { ok: false, reason: 'cannot-open' });
    assert.deepEqual(open({ ...sealed, iv: 'AAAA' }, appliance.privateKey, aad), { ok: false, reason: 'malformed' });
    assert.deepEqual(open('x', appliance.privateKey, aad), { ok: false, reason: 'malformed' });
  });

  it('seals to a base64 raw public key and travels inside a signed message', () => {
    const raw = rawPublicKey(appliance.publicKey);
    assert.ok(publicKeyFromRaw(raw, 'x25519'));
    assert.equal(publicKeyFromRaw('short', 'x25519'), undefined);
    const sealed = seal(Buffer.from('s3cret'), raw, { appliance: ID, seq: 5, kind: 'secret' });
    const msg = signMessage({ appliance: ID, seq: 5, kind: 'secret', sealed }, centre.privateKey);
    assert.ok(!encodeMessage(msg).includes('s3cret'));
    const res = verifyMessage(encodeMessage(msg), centre.publicKey, ID);
    assert.ok(res.ok);
    const opened = openMessage(res.message, appliance.privateKey);
    assert.equal(opened.ok && opened.payload.revealString(), 's3cret');
  });

  it('property: a sealed payload round-trips and opens under no other AAD', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 1, max: 1e9 }), (bytes, seq) => {
        const a = { appliance: ID, seq, kind: 'secret' };
        const sealed = seal(Buffer.from(bytes), appliance.publicKey, a);
        const ok = open(sealed, appliance.privateKey, a);
        return ok.ok && ok.payload.reveal().equals(Buffer.from(bytes)) && !open(sealed, appliance.privateKey, { ...a, seq: seq + 1 }).ok;
      }),
      { numRuns: 200 },
    );
  });
});

describe('sequence numbers', () => {
  it('classifies apply, replay and gap', () => {
    assert.equal(acceptSeq(0, 1), 'apply');
    assert.equal(acceptSeq(6, 7), 'apply');
    assert.equal(acceptSeq(7, 7), 'replay');
    assert.equal(acceptSeq(7, 3), 'replay');
    assert.equal(acceptSeq(7, 9), 'gap');
    assert.equal(acceptSeq(7, 20, 'snapshot'), 'apply');
    assert.equal(acceptSeq(7, 7, 'snapshot'), 'replay');
  });
});
