// The senhasegura A2A envelopes (document 004), byte-for-byte in field names and order:
// success `{"response":{status,mensagem,erro,message,error}, …payload}`, errors add
// `"exception":{code,message,detail}`, and the 404 envelope carries cod_erro/error_code.
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

export interface ResponseHead {
  status: number;
  mensagem: string;
  erro: boolean;
  message: string;
  error: boolean;
}

export function success(status: number, message: string, payload: Record<string, unknown> = {}) {
  const response: ResponseHead = { status, mensagem: message, erro: false, message, error: false };
  return { response, ...payload };
}

/** The numbered errors of document 004 and the ones Outpost adds where it is silent (docs/a2a.md). */
export const A2A_ERRORS = {
  1004: "The device's hostname was not informed",
  1005: "The device's IP was not informed",
  1007: 'Credential not found',
  1011: 'Device not found',
  1023: 'Information not found',
  1024: 'Inactive information',
  1026: 'The information content was not informed',
  1039: 'Without PAM Configuration Access permission',
  // Outpost's own, in the same style, for cases the document does not show.
  1000: 'Internal error',
  1001: 'Unauthorized',
  1002: 'Access denied from this address',
  1003: 'Resource not authorized for this application',
  1040: 'Invalid request',
  1041: 'Request body too large',
  1042: 'Method not allowed',
  1043: 'Service unavailable',
  1044: 'Referer not allowed',
  1045: 'Client certificate does not match',
} as const;

export type A2aCode = keyof typeof A2A_ERRORS;

/** An expected A2A failure: rendered by the A2A error handler as the document's error envelope. */
export class A2aError extends HTTPException {
  constructor(
    readonly code: A2aCode,
    readonly httpStatus: ContentfulStatusCode = 400,
    readonly detail: string | null = null,
  ) {
    super(httpStatus, { message: `${code}: ${A2A_ERRORS[code]}` });
    this.name = 'A2aError';
  }
}

export function failure(code: A2aCode, httpStatus: number, detail: string | null = null) {
  const text = `${code}: ${A2A_ERRORS[code]}`;
  const response: ResponseHead = { status: httpStatus, mensagem: text, erro: true, message: text, error: true };
  return { response, exception: { code, message: text, detail } };
}

/** Document 004's answer to an unknown resource or sub-resource (HTTP 404). */
export function notFoundBody() {
  const text = 'Resource/sub-resource not found';
  return { response: { status: 404, mensagem: text, erro: true, cod_erro: 1, message: text, error: true, error_code: 1 } };
}

/**
 * A JSON answer whose headers are a plain record in the Response init: @hono/node-server writes
 * such a record as it is, where c.json() after c.header() makes Hono build a Headers object that
 * the adapter then copies back into a record (docs/benchmarks.md, A2A). Headers set with
 * c.header() for this request are not in it: for routes that set none.
 */
export function jsonAnswer(body: unknown, headers: Record<string, string>, status = 200): Response {
  return jsonTextAnswer(JSON.stringify(body), headers, status);
}

/** jsonAnswer() for a body already serialised (a route that keeps the text of its answers). */
export function jsonTextAnswer(json: string, headers: Record<string, string>, status = 200): Response {
  return new Response(json, { status, headers: { 'content-type': 'application/json', ...headers } });
}
