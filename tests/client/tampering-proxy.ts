import { createServer, request } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { RunningService } from '../../mock-service/service.js';

/**
 * A proxy in front of a real service that rewrites prediction exchanges: `answer` gets the request
 * body and a function that forwards it, and returns the body the client receives. With
 * `catalogFrom`, the catalog (GET /v1/models) comes from that other service: an honest catalog,
 * signed cards included, in front of a service that evaluates something else.
 */
export async function rewritingProxy(
  service: RunningService,
  answer: (request: Buffer, forward: () => Promise<Buffer>) => Promise<Buffer>,
  options: { catalogFrom?: RunningService } = {},
): Promise<{ url: string; close(): Promise<void> }> {
  const forward = (req: IncomingMessage, body: Buffer, res: ServerResponse | null): Promise<Buffer> =>
    new Promise((resolve, reject) => {
      const target = new URL(options.catalogFrom && req.url?.startsWith('/v1/models') ? options.catalogFrom.url : service.url);
      const upstream = request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: { ...req.headers, host: target.host } }, (up) => {
        if (res) {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
          up.on('end', () => resolve(Buffer.alloc(0)));
          return;
        }
        const chunks: Buffer[] = [];
        up.on('data', (c: Buffer) => chunks.push(c));
        up.on('end', () => resolve(Buffer.concat(chunks)));
      });
      upstream.on('error', reject);
      upstream.end(body);
    });
  const proxy: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (!req.url?.endsWith('/predictions')) {
        void forward(req, body, res);
        return;
      }
      answer(body, () => forward(req, body, null)).then(
        (out) => {
          res.writeHead(200, { 'content-type': 'application/vnd.ciphercare.envelope' });
          res.end(out);
        },
        () => {
          res.writeHead(502);
          res.end();
        },
      );
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const address = proxy.address();
  return {
    url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    close: () => new Promise<void>((resolve) => proxy.close(() => resolve())),
  };
}
