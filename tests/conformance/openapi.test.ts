import SwaggerParser from '@apidevtools/swagger-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv/dist/2020.js';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContentTypes, HeContext, encodeKeyEnvelope, loadSeal } from '../../he-core/index.js';
import type { ApiErrorCode, CatalogModel } from '../../he-core/index.js';
import type { RunningService } from '../../mock-service/service.js';
import { call, catalogOf, startTestService } from '../service/harness.js';
import type { HttpResult } from '../service/harness.js';

// docs/openapi.yaml is valid OpenAPI 3.1 (a maintained validator), complete (every schema closed:
// the live service's bodies validate with no property the document does not name), and honest
// (every status the service answers on a route is documented for it, with a problem document of
// the documented shape and code).

const SPEC = fileURLToPath(new URL('../../docs/openapi.yaml', import.meta.url));

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const isObject = (v: Json | undefined): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every object schema that lists its properties admits no others: the document must name every field. */
function closeSchemas(node: Json): Json {
  if (Array.isArray(node)) return node.map(closeSchemas);
  if (!isObject(node)) return node;
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(node)) out[k] = k === 'example' || k === 'examples' ? v : closeSchemas(v);
  if (isObject(out.properties) && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

const ALL_CODES: Record<ApiErrorCode, true> = {
  unauthorized: true,
  not_found: true,
  method_not_allowed: true,
  model_not_found: true,
  session_not_found: true,
  bad_request: true,
  unsupported_media_type: true,
  payload_too_large: true,
  invalid_envelope: true,
  invalid_keys: true,
  invalid_ciphertext: true,
  parameter_mismatch: true,
  overloaded: true,
  evaluation_timeout: true,
  shutting_down: true,
  internal_error: true,
};

describe('docs/openapi.yaml', () => {
  let doc: JsonObject;
  let ajv: Ajv2020;
  const schema = (name: string): ValidateFunction => ajv.getSchema(`openapi.json#/$defs/${name}`)!;
  const problems = (validate: ValidateFunction, value: unknown): string[] => (validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''} ${JSON.stringify(e.params)}`));

  beforeAll(async () => {
    doc = (await SwaggerParser.parse(SPEC)) as unknown as JsonObject;
    ajv = new Ajv2020({ allErrors: true, strict: true });
    ajv.addKeyword('example');
    ajv.addFormat('date-time', { validate: (s: string) => !Number.isNaN(Date.parse(s)) && /^\d{4}-\d{2}-\d{2}T/.test(s) });
    ajv.addFormat('binary', true);
    // The document's schemas as one JSON Schema 2020-12 document ($defs), references rewritten.
    const schemas = JSON.parse(JSON.stringify((doc.components as JsonObject).schemas).replaceAll('#/components/schemas/', '#/$defs/')) as Json;
    ajv.addSchema({ $id: 'openapi.json', $defs: closeSchemas(schemas) });
  });

  it('is valid OpenAPI 3.1 with every reference resolved', async () => {
    const api = await SwaggerParser.validate(SPEC);
    expect((api as { openapi?: string }).openapi).toBe('3.1.0');
  });

  it('lists exactly the service\'s error codes', () => {
    const codes = (((doc.components as JsonObject).schemas as JsonObject).ErrorCode as JsonObject).enum as string[];
    expect([...codes].sort()).toEqual(Object.keys(ALL_CODES).sort());
  });

  it('every operation lists the answers any route can give (400 Host, 405, 500, 503) and 401 where a token is needed', () => {
    for (const [path, item] of Object.entries(doc.paths as JsonObject)) {
      for (const [method, op] of Object.entries(item as JsonObject)) {
        if (!isObject(op) || !isObject(op.responses)) continue;
        const statuses = Object.keys(op.responses);
        expect(statuses, `${method} ${path}`).toEqual(expect.arrayContaining(['400', '405', '500', '503']));
        const open = Array.isArray(op.security) && op.security.length === 0;
        expect(statuses.includes('401'), `${method} ${path}`).toBe(!open);
      }
    }
  });

  it('every example validates against its schema', () => {
    const schemas = (doc.components as JsonObject).schemas as JsonObject;
    const checked: string[] = [];
    for (const [name, s] of Object.entries(schemas)) {
      if (isObject(s) && s.example !== undefined) {
        expect(problems(schema(name), s.example), name).toEqual([]);
        checked.push(name);
      }
    }
    for (const [name, r] of Object.entries((doc.components as JsonObject).responses as JsonObject)) {
      const media = isObject(r) && isObject(r.content) ? r.content['application/problem+json'] : undefined;
      if (!isObject(media)) continue;
      const examples = [media.example, ...(isObject(media.examples) ? Object.values(media.examples).map((e) => (isObject(e) ? e.value : null)) : [])].filter((e) => e !== undefined && e !== null);
      for (const e of examples) {
        expect(problems(schema('Problem'), e), name).toEqual([]);
        const status = Number((e as JsonObject).status);
        checked.push(`${name} ${status}`);
      }
    }
    expect(checked.length).toBeGreaterThan(8);
  });

  describe('against the live service', () => {
    let service: RunningService;
    let models: CatalogModel[];

    beforeAll(async () => {
      service = await startTestService();
      models = await catalogOf(service);
    });
    afterAll(async () => {
      await service?.close();
    });

    /** The documented responses of an operation. */
    const documented = (path: string, method: string): JsonObject => {
      const item = (doc.paths as JsonObject)[path] as JsonObject;
      return (item[method] as JsonObject).responses as JsonObject;
    };

    /** Checks an answer against the document: its status is listed, its body has the documented shape. */
    const conforms = (path: string, method: string, res: HttpResult, code?: ApiErrorCode): void => {
      const responses = documented(path, method);
      expect(Object.keys(responses), `${method} ${path} ${res.status}`).toContain(String(res.status));
      if (res.status >= 400) {
        expect(res.headers['content-type']).toBe(ContentTypes.problem);
        const body = JSON.parse(Buffer.from(res.body).toString('utf8')) as { code: string; status: number };
        expect(problems(schema('Problem'), body)).toEqual([]);
        expect(body.status).toBe(res.status);
        if (code) expect(body.code).toBe(code);
      }
    };

    it('the catalog validates, closed, against Catalog (the signed cards included)', async () => {
      const res = await call(service, 'GET', '/v1/models');
      conforms('/v1/models', 'get', res);
      const body = JSON.parse(Buffer.from(res.body).toString('utf8')) as unknown;
      expect(problems(schema('Catalog'), body)).toEqual([]);
      expect(models.length).toBe(4);
      expect(models.every((m) => m.card !== undefined)).toBe(true);
      // Closed: a field the document does not name is refused.
      expect(problems(schema('CatalogModel'), { ...models[0], undocumented: 1 })).not.toEqual([]);
      expect(problems(schema('PublicPlan'), { ...models[0]!.plans.single, input: { ...models[0]!.plans.single.input, extra: 0 } })).not.toEqual([]);
    });

    it('health, session documents and forgetting a session validate', async () => {
      const health = await call(service, 'GET', '/v1/health', undefined, { authorization: '' });
      conforms('/v1/health', 'get', health);
      expect(problems(schema('Health'), JSON.parse(Buffer.from(health.body).toString('utf8')))).toEqual([]);

      const model = models.find((m) => m.id === 'diabetes-progression')!;
      const plan = model.plans.batch;
      const body = encodeKeyEnvelope(plan.params.fingerprint, null, null);
      const created = await call(service, 'POST', `/v1/sessions?model=${model.id}&mode=batch`, body);
      expect(created.status).toBe(201);
      conforms('/v1/sessions', 'post', created);
      const session = JSON.parse(Buffer.from(created.body).toString('utf8')) as { sessionId: string };
      expect(problems(schema('Session'), session)).toEqual([]);
      const again = await call(service, 'POST', `/v1/sessions?model=${model.id}&mode=batch`, body);
      expect(again.status).toBe(200);
      conforms('/v1/sessions', 'post', again);
      const forgotten = await call(service, 'DELETE', `/v1/sessions/${session.sessionId}`);
      expect(forgotten.status).toBe(204);
      conforms('/v1/sessions/{id}', 'delete', forgotten);
      const gone = await call(service, 'DELETE', `/v1/sessions/${session.sessionId}`);
      conforms('/v1/sessions/{id}', 'delete', gone, 'session_not_found');
      const predictGone = await call(service, 'POST', `/v1/sessions/${session.sessionId}/predictions`, new Uint8Array(64));
      conforms('/v1/sessions/{id}/predictions', 'post', predictGone, 'session_not_found');
    });

    it('every refusal is documented for its route, with its code', async () => {
      const model = models.find((m) => m.id === 'breast-cancer')!;
      const single = `/v1/sessions?model=${model.id}&mode=single`;
      conforms('/v1/models', 'get', await call(service, 'GET', '/v1/models', undefined, { authorization: 'Bearer wrong' }), 'unauthorized');
      conforms('/v1/metrics', 'get', await call(service, 'GET', '/v1/metrics', undefined, { authorization: '' }), 'unauthorized');
      conforms('/v1/models', 'get', await call(service, 'PUT', '/v1/models'), 'method_not_allowed');
      conforms('/v1/health', 'get', await call(service, 'POST', '/v1/health'), 'method_not_allowed');
      conforms('/v1/metrics', 'get', await call(service, 'DELETE', '/v1/metrics'), 'method_not_allowed');
      conforms('/v1/sessions', 'post', await call(service, 'GET', '/v1/sessions'), 'method_not_allowed');
      conforms('/v1/sessions/{id}', 'delete', await call(service, 'GET', '/v1/sessions/abc'), 'method_not_allowed');
      conforms('/v1/sessions/{id}/predictions', 'post', await call(service, 'GET', '/v1/sessions/abc/predictions'), 'method_not_allowed');
      conforms('/v1/sessions', 'post', await call(service, 'POST', '/v1/sessions?model=nope', new Uint8Array(8)), 'model_not_found');
      conforms('/v1/sessions', 'post', await call(service, 'POST', `/v1/sessions?model=${model.id}&mode=fast`, new Uint8Array(8)), 'bad_request');
      conforms('/v1/sessions', 'post', await call(service, 'POST', single, new Uint8Array(8), { 'content-type': 'text/plain' }), 'unsupported_media_type');
      conforms('/v1/sessions', 'post', await call(service, 'POST', single, new Uint8Array(8)), 'invalid_envelope');
      conforms('/v1/sessions', 'post', await tooLarge(service, single), 'payload_too_large');

      // Keys that are not seeded: refused by name.
      const rt = await loadSeal();
      const plan = model.plans.single;
      const ctx = HeContext.create(rt, plan.params);
      const keygen = new rt.seal.KeyGenerator(ctx.context);
      const galois = keygen.createGaloisKeysWithSteps(Int32Array.from(plan.galoisSteps));
      try {
        const unseeded = encodeKeyEnvelope(plan.params.fingerprint, null, galois.saveToArray(rt.seal.ComprModeType.zstd) as Uint8Array);
        const res = await call(service, 'POST', single, unseeded);
        conforms('/v1/sessions', 'post', res, 'invalid_keys');
        expect(JSON.parse(Buffer.from(res.body).toString('utf8')).detail).toMatch(/keys must be seeded/);
      } finally {
        galois.delete();
        keygen.delete();
        ctx.dispose();
      }
    });
  });
});

/** A declared length far above the limit, sent by hand: the service answers 413 before reading it. */
function tooLarge(service: RunningService, path: string): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request(service.url + path, { method: 'POST', agent: false, headers: { authorization: `Bearer ${service.token}`, 'content-type': ContentTypes.envelope, 'content-length': String(2 ** 30) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: new Uint8Array(Buffer.concat(chunks)) }));
    });
    req.on('error', reject);
    req.write(Buffer.alloc(16));
  });
}
