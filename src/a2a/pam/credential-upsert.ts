// POST /iso/pam/credential: updates the credential named by id, identifier or the ip + hostname +
// username set, or creates it (and its device, when this authorization sees none with that hostname).
import type { Hono } from 'hono';
import { z } from 'zod';
import { Secret } from '../../vault/index.ts';
import { requirePamWrite, requireResource, type A2aEnv } from '../context.ts';
import { A2aError, success } from '../envelope.ts';
import { upsertCredential } from './credentials.ts';
import { numericId, parseParams, readBody, secretText, text, textList } from './params.ts';
import type { PamStore } from './store.ts';
import { CREDENTIAL_TYPES } from './views.ts';

const credentialType = text.transform((v, ctx) => {
  const known = CREDENTIAL_TYPES.find((t) => t.toLowerCase() === v.toLowerCase());
  if (!known) ctx.addIssue({ code: 'custom', message: `expected one of ${CREDENTIAL_TYPES.join(', ')}` });
  return known ?? v;
});

const PORT_ERROR = { error: 'expected a port number from 1 to 65535' };
const port = z
  .union([z.string(PORT_ERROR).trim().regex(/^\d{1,5}$/, PORT_ERROR), z.number(PORT_ERROR).int(PORT_ERROR)], PORT_ERROR)
  .transform(Number)
  .refine((n) => n >= 1 && n <= 65535, PORT_ERROR)
  .transform(String);

const schema = z
  .object({
    id: numericId.optional(),
    hostname: text,
    ip: text,
    username: text,
    identifier: text,
    type: credentialType.optional(),
    // senhasegura's Ansible collection sends the password as `content`.
    password: secretText.optional(),
    content: secretText.optional(),
    domain: text.optional(),
    additional: text.optional(),
    port: port.optional(),
    tags: textList.optional(),
    // The parent credential's numeric id, under the name senhasegura's Ansible collection uses.
    parent_password: numericId.optional(),
  })
  .strict()
  .refine((p) => p.password === undefined || p.content === undefined || p.password === p.content, {
    error: 'password and content differ: send one of them',
    path: ['content'],
  });

export function registerCredentialUpsert(app: Hono<A2aEnv>, store: PamStore): void {
  app.post('/pam/credential', async (c) => {
    const authz = requireResource(c, 'pam', 'credential.upsert');
    requirePamWrite(authz);
    const p = parseParams(schema, await readBody(c), { hostname: 1004, ip: 1005 });
    const password = p.password ?? p.content;
    const result = await upsertCredential(store, authz, {
      id: p.id,
      identifier: p.identifier,
      username: p.username,
      hostname: p.hostname,
      ip: p.ip,
      type: p.type,
      secret: password === undefined ? undefined : new Secret(password),
      domain: p.domain,
      additional: p.additional,
      port: p.port,
      tags: p.tags,
      parentId: p.parent_password,
    });
    if ('fail' in result) throw result.fail === 1007 ? new A2aError(1007) : new A2aError(1040, 400, result.detail);
    const { credential, created } = result;
    const message = created ? 'Credential successfully registered!' : 'Credential updated successfully!';
    return c.json(success(201, message, { credential: { id: credential.id, tag: credential.identifier } }));
  });
}
