import type { KeyObject } from 'node:crypto';
import { createServer, request } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { CARD_FORMAT, CARD_FORMAT_VERSION, signCard } from '../../he-core/index.js';
import type { CatalogModel, CatalogResponse, ModelCard } from '../../he-core/index.js';
import type { RunningService } from '../../mock-service/service.js';

export interface CatalogProxy {
  url: string;
  /** Makes the catalog served from the real one. */
  serve: (real: CatalogModel[]) => CatalogModel[];
  /** Invented model id → the real model that answers for it. */
  aliases: Map<string, string>;
  /** Every request seen, as `METHOD /path`. */
  requests: string[];
  close(): Promise<void>;
}

/**
 * A tampering provider: a proxy on 127.0.0.1 in front of the real service that serves the catalog
 * `serve` makes of the real one, and maps model ids it invented back to the real model (`aliases`)
 * so that predictions on them really run.
 */
export async function catalogProxy(service: RunningService): Promise<CatalogProxy> {
  const target = new URL(service.url);
  const state = { serve: (real: CatalogModel[]) => real, aliases: new Map<string, string>(), requests: [] as string[] };
  const proxy: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://proxy');
      state.requests.push(`${req.method ?? ''} ${url.pathname}`);
      const alias = url.searchParams.get('model');
      if (alias && state.aliases.has(alias)) url.searchParams.set('model', state.aliases.get(alias)!);
      const upstream = request({ host: target.hostname, port: target.port, path: `${url.pathname}${url.search}`, method: req.method, headers: { ...req.headers, host: target.host } }, (up) => {
        if (url.pathname !== '/v1/models' || up.statusCode !== 200) {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
          return;
        }
        const body: Buffer[] = [];
        up.on('data', (c: Buffer) => body.push(c));
        up.on('end', () => {
          const real = (JSON.parse(Buffer.concat(body).toString('utf8')) as CatalogResponse).models;
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ models: state.serve(real) }));
        });
      });
      upstream.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      upstream.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const address = proxy.address();
  return {
    url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    get serve() {
      return state.serve;
    },
    set serve(f) {
      state.serve = f;
    },
    aliases: state.aliases,
    requests: state.requests,
    close: () => new Promise<void>((resolve) => proxy.close(() => resolve())),
  };
}

/** The card a publisher would sign for a catalog entry. */
export function cardOf(entry: CatalogModel): ModelCard {
  const m = entry.plans.single.model;
  return {
    format: CARD_FORMAT,
    formatVersion: CARD_FORMAT_VERSION,
    id: entry.id,
    version: entry.version,
    title: entry.title,
    description: entry.description,
    task: entry.task,
    input: entry.input,
    output: entry.output,
    preprocess: m.preprocess,
    postprocess: m.postprocess,
    metrics: entry.metrics,
    weightsSha256: entry.weightsSha256,
    testVectors: entry.testVectors,
    plans: { single: { params: entry.plans.single.params }, batch: { params: entry.plans.batch.params } },
  };
}

/** A real entry republished under `id` (and whatever `change` does), signed by `key`. */
export function publish(real: CatalogModel[], from: string, id: string, key: KeyObject, change?: (e: CatalogModel) => void): CatalogModel {
  const e = JSON.parse(JSON.stringify(real.find((m) => m.id === from)!)) as CatalogModel;
  delete e.card;
  e.id = id;
  e.plans.single.model.id = id;
  e.plans.batch.model.id = id;
  change?.(e);
  e.card = signCard(cardOf(e), key);
  return e;
}
