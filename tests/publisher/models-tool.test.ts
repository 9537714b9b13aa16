import { spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { formatFingerprint, publisherFingerprint } from '../../he-core/index.js';
import type { SignedCard } from '../../he-core/index.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const MODEL = join(ROOT, 'assets', 'models', 'diabetes-progression.json');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `npm run models -- …` as a person runs it: the tool as its own process. */
function tool(args: string[]): Promise<Run> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/models/index.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('the publisher tool (npm run models)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ciphercare-publisher-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const key = join(dir, 'publisher.key');
  const otherKey = join(dir, 'other.key');
  const card = join(dir, 'diabetes.card.json');

  it('keygen writes a 0600 private key and a public key, and never prints the private key', async () => {
    const run = await tool(['keygen', '--out', key]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(statSync(key).mode & 0o777).toBe(0o600);
    const pem = readFileSync(key, 'utf8');
    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    const body = pem.split('\n')[1]!;
    expect(run.stdout).not.toContain(body);
    const pub = readFileSync(`${key}.pub`, 'utf8').trim();
    expect(run.stdout).toContain(`fingerprint: ${formatFingerprint(publisherFingerprint(pub))}`);
    // An existing key is never overwritten by accident.
    const again = await tool(['keygen', '--out', key]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/exists; pass --force to replace it/);
    expect(readFileSync(key, 'utf8')).toBe(pem);
    expect((await tool(['keygen', '--out', otherKey])).code).toBe(0);
  }, 60_000);

  it('sign, then verify against the model and the publisher fingerprint', async () => {
    const signed = await tool(['sign', MODEL, '--key', key, '--out', card]);
    expect(signed.stderr).toBe('');
    expect(signed.code).toBe(0);
    const fingerprint = publisherFingerprint(readFileSync(`${key}.pub`, 'utf8').trim());
    const doc = JSON.parse(readFileSync(card, 'utf8')) as SignedCard;
    expect(doc.card.id).toBe('diabetes-progression');
    const verified = await tool(['verify', card, '--model', MODEL, '--publisher', formatFingerprint(fingerprint)]);
    expect(verified.stderr).toBe('');
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain('signature valid; diabetes-progression 1.2.0');
    expect(verified.stdout).toContain('(as expected)');
  }, 60_000);

  it('refuses a card of another publisher, another model, or altered after signing', async () => {
    const otherFingerprint = publisherFingerprint(readFileSync(`${otherKey}.pub`, 'utf8').trim());
    const wrongKey = await tool(['verify', card, '--publisher', otherFingerprint]);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stderr).toMatch(new RegExp(`is signed by publisher [0-9a-f ]+, not by ${formatFingerprint(otherFingerprint)}: refused`));

    const wrongModel = await tool(['verify', card, '--model', join(ROOT, 'assets', 'models', 'breast-cancer.json')]);
    expect(wrongModel.code).toBe(1);
    expect(wrongModel.stderr).toMatch(/is not the card of .*breast-cancer\.json: .*weightsSha256.* differ\. Re-sign it: npm run models -- sign/);

    const altered = JSON.parse(readFileSync(card, 'utf8')) as SignedCard;
    altered.card.testVectors[0]!.expected[0] = 0;
    const alteredFile = join(dir, 'altered.card.json');
    writeFileSync(alteredFile, JSON.stringify(altered));
    const run = await tool(['verify', alteredFile]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('models: the signature of the card of diabetes-progression 1.2.0 does not verify: the card was altered after signing, or signed by another key\n');
  }, 60_000);

  it('refuses to sign with a key that is not an Ed25519 publisher key', async () => {
    const rsa = join(dir, 'rsa.key');
    writeFileSync(rsa, generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }));
    const run = await tool(['sign', MODEL, '--key', rsa, '--out', join(dir, 'x.card.json')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('models: the key file holds a rsa key, not an Ed25519 publisher key\n');
  }, 60_000);
});
