// `npm run demo [-- --json]`: one held-out sample per bundled model, encrypted on this machine,
// evaluated on ciphertexts, decrypted, and compared with the plaintext reference.
import { HeContext, PlanEvaluator, compile, encodeKeyEnvelope, evaluateEnvelope, loadSeal, openKeyEnvelope, postprocess, referenceForward, roundTo } from '../he-core/index.js';
import type { ModelFile } from '../he-core/index.js';
import { ClientKeyPair, decryptResult, encryptRequest } from '../he-core/client/index.js';
import { loadBundledModels } from './bundled-models.js';

interface DemoRow {
  model: string;
  encrypted: number[];
  plaintext: number[];
  agree: boolean;
  ms: number;
  stages: { keygen: number; encrypt: number; evaluate: number; decrypt: number };
  bytes: { keys: number; up: number; down: number };
}

function shown(model: ModelFile, output: ArrayLike<number>): number[] {
  return postprocess(model.postprocess, output).values.map((v) => roundTo(v, model.output.precision));
}

async function runModel(model: ModelFile): Promise<DemoRow> {
  const rt = await loadSeal();
  const plan = compile(rt.seal, model);
  const ctx = HeContext.create(rt, plan.public.params);
  const evaluator = new PlanEvaluator(ctx, plan);
  const started = performance.now();
  const client = ClientKeyPair.generate(ctx);
  const generated = client.createEvaluationKeys(plan.public);
  const keygen = performance.now() - started;
  const keys = openKeyEnvelope(ctx, plan.public, encodeKeyEnvelope(ctx.params.fingerprint, generated.relin, generated.galois));
  try {
    const sample = model.testVectors[0]!.input;
    const t0 = performance.now();
    const request = encryptRequest(client, plan.public, [sample]);
    const t1 = performance.now();
    const result = evaluateEnvelope(evaluator, keys, request);
    const t2 = performance.now();
    const decrypted = decryptResult(client, plan.public, result)[0]!;
    const t3 = performance.now();
    const encrypted = shown(model, decrypted);
    const plaintext = shown(model, referenceForward(model, sample));
    return {
      model: model.id,
      encrypted,
      plaintext,
      agree: encrypted.every((v, i) => v === plaintext[i]),
      ms: t3 - t0,
      stages: { keygen, encrypt: t1 - t0, evaluate: t2 - t1, decrypt: t3 - t2 },
      bytes: { keys: generated.relinBytes + generated.galoisBytes, up: request.length, down: result.length },
    };
  } finally {
    keys.dispose();
    client.dispose();
    evaluator.dispose();
    ctx.dispose();
  }
}

const json = process.argv.includes('--json');
const rows: DemoRow[] = [];
for (const model of loadBundledModels()) rows.push(await runModel(model));

if (json) {
  console.log(JSON.stringify(rows.map(({ model, encrypted, plaintext, agree, ms }) => ({ model, encrypted, plaintext, agree, ms: Math.round(ms * 10) / 10 })), null, 2));
} else {
  const f = (ms: number): string => `${ms.toFixed(1)} ms`.padStart(10);
  console.log('model                  encrypted result        plaintext reference     agree  keygen     encrypt    evaluate   decrypt    total');
  for (const r of rows) {
    const enc = r.encrypted.length > 3 ? `class ${r.encrypted.indexOf(Math.max(...r.encrypted))}` : r.encrypted.join(', ');
    const ref = r.plaintext.length > 3 ? `class ${r.plaintext.indexOf(Math.max(...r.plaintext))}` : r.plaintext.join(', ');
    console.log(`${r.model.padEnd(22)} ${enc.padEnd(23)} ${ref.padEnd(23)} ${(r.agree ? 'yes' : 'NO').padEnd(6)}${f(r.stages.keygen)} ${f(r.stages.encrypt)} ${f(r.stages.evaluate)} ${f(r.stages.decrypt)} ${f(r.ms)}`);
  }
  console.log('\nThe evaluator only ever saw ciphertexts and evaluation keys; the secret key stayed in this process.');
}
process.exitCode = rows.every((r) => r.agree) ? 0 : 1;
