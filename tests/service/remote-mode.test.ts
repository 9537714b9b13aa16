import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Routes } from '../../he-core/index.js';
import { startService } from '../../mock-service/service.js';
import type { RunningService } from '../../mock-service/service.js';

const API_KEY = 'test-api-key-0123456789abcdef';

function get(service: RunningService, path: string, ca: Buffer, authorization?: string): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(service.url + path, { method: 'GET', ca, agent: false, headers: authorization ? { authorization } : {} }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('remote mode: API keys over TLS', () => {
  let dir: string;
  let cert: Buffer;
  let key: Buffer;
  let service: RunningService;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ciphercare-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    cert = readFileSync(join(dir, 'cert.pem'));
    key = readFileSync(join(dir, 'key.pem'));
    service = await startService({ mode: 'remote', host: '127.0.0.1', port: 0, apiKeys: [API_KEY], tls: { cert, key }, workers: 1, logger: pino({ level: 'silent' }) });
  }, 120_000);
  afterAll(async () => {
    await service?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves HTTPS with a verifiable certificate and checks the API key', async () => {
    expect(service.url.startsWith('https://127.0.0.1:')).toBe(true);
    expect(service.token).toBeUndefined();
    expect((await get(service, Routes.models, cert)).status).toBe(401);
    expect((await get(service, Routes.models, cert, 'Bearer wrong-key-wrong-key-wrong-key')).status).toBe(401);
    const ok = await get(service, Routes.models, cert, `Bearer ${API_KEY}`);
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('"mnist-cnn"');
    // No CORS: the service never grants a browser origin.
    expect(Object.keys(ok.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
  });

  it('refuses a certificate the client does not trust', async () => {
    await expect(get(service, Routes.health, Buffer.from(''))).rejects.toThrow(/certificate/i);
  });

  it('refuses to start remote mode without API keys or without TLS', async () => {
    await expect(startService({ mode: 'remote', apiKeys: [], tls: { cert, key }, logger: pino({ level: 'silent' }) })).rejects.toThrow(/API key/);
    await expect(startService({ mode: 'remote', apiKeys: [API_KEY], logger: pino({ level: 'silent' }) })).rejects.toThrow(/TLS/);
  });
});
