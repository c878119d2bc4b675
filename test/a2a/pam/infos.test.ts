// Protected information through the real A2A app: the document's bodies and its 1023, 1024
// and 1026 errors, and visibility between authorizations.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { errorBody, head, pamHarness, type Harness } from './harness.ts';

let h: Harness;
before(async () => {
  h = await pamHarness();
});
after(() => h.close());

const notFound = errorBody(1023, 'Information not found');
const inactive = errorBody(1024, 'Inactive information');

test('POST /iso/pam/info with content only answers tag null; GET returns the content', async () => {
  const a = await h.authorization();
  const made = await h.call(a, 'POST', '/iso/pam/info', { json: { content: 'My secret data' } });
  assert.equal(made.status, 200);
  const id = made.body.info.id as string;
  assert.equal(made.text, JSON.stringify({ response: head(201, 'Information successfully registered!'), info: { id, tag: null } }));
  const got = await h.call(a, 'GET', `/iso/pam/info/${id}`);
  assert.equal(got.status, 200);
  assert.equal(got.text, JSON.stringify({ response: head(200, `Information ${id}`), info: { id, tag: null, type: null, content: 'My secret data' } }));
});

test('POST /iso/pam/info with every field; GET by identifier', async () => {
  const a = await h.authorization();
  const made = await h.call(a, 'POST', '/iso/pam/info', { form: { content: 'INFOCONTENTNDIGH', identifier: 'INFOID5', name: 'My protected info', type: 'Access credential' } });
  const id = made.body.info.id as string;
  assert.deepEqual(made.body, { response: head(201, 'Information successfully registered!'), info: { id, tag: 'INFOID5' } });
  const got = await h.call(a, 'GET', '/iso/pam/info/INFOID5');
  assert.equal(got.text, JSON.stringify({ response: head(200, `Information ${id}`), info: { id, tag: 'INFOID5', type: 'Access credential', content: 'INFOCONTENTNDIGH' } }));
  const dup = await h.call(a, 'POST', '/iso/pam/info', { json: { content: 'x', identifier: 'INFOID5' } });
  assert.deepEqual(dup.body, errorBody(1040, 'Invalid request', 400, `identifier: already used by information ${id}`));
});

test('missing content answers 1026', async () => {
  const a = await h.authorization();
  for (const json of [{}, { content: '' }, { content: null }, { identifier: 'x' }]) {
    const r = await h.call(a, 'POST', '/iso/pam/info', { json });
    assert.equal(r.status, 400);
    assert.equal(r.text, JSON.stringify(errorBody(1026, 'The information content was not informed')));
  }
  assert.deepEqual((await h.call(a, 'POST', '/iso/pam/info', { json: { content: 42 } })).body, errorBody(1040, 'Invalid request', 400, 'content: expected a string'));
});

test('unknown or invisible information answers 1023; inactive answers 1024 on GET and DELETE', async () => {
  const a = await h.authorization();
  const b = await h.authorization();
  const id = (await h.call(a, 'POST', '/iso/pam/info', { json: { content: 'a-only', identifier: 'A-INFO' } })).body.info.id as string;
  for (const ref of [id, 'A-INFO', '999999']) {
    assert.deepEqual((await h.call(b, 'GET', `/iso/pam/info/${ref}`)).body, notFound);
    const del = await h.call(b, 'DELETE', `/iso/pam/info/${ref}`);
    assert.equal(del.status, 400);
    assert.deepEqual(del.body, notFound);
  }
  const del = await h.call(a, 'DELETE', '/iso/pam/info/A-INFO');
  assert.equal(del.status, 200);
  assert.equal(del.text, JSON.stringify({ response: head(200, 'Information successfully deactivated') }));
  const again = await h.call(a, 'DELETE', `/iso/pam/info/${id}`);
  assert.equal(again.status, 400);
  assert.equal(again.text, JSON.stringify(inactive));
  assert.equal((await h.call(a, 'GET', `/iso/pam/info/${id}`)).text, JSON.stringify(inactive));
  // Still invisible, so still "not found", for B.
  assert.deepEqual((await h.call(b, 'GET', `/iso/pam/info/${id}`)).body, notFound);
  // Granted by configuration: visible (and inactive).
  await h.s.clients.update(b.id, { infos: [id] });
  assert.deepEqual((await h.call(b, 'GET', `/iso/pam/info/${id}`)).body, inactive);
  // The identifier is free again once its holder is inactive.
  const next = await h.call(a, 'POST', '/iso/pam/info', { json: { content: 'second', identifier: 'A-INFO' } });
  assert.equal((await h.call(a, 'GET', '/iso/pam/info/A-INFO')).body.info.id, next.body.info.id);
  assert.deepEqual(h.s.clients.authz.get(a.id)!.infos, [id, next.body.info.id]);
});
