import { createServer, request } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { RunningService } from '../../mock-service/service.js';

export interface DripProxy {
  url: string;
  /** Sockets that carried a dripped answer, and whether each is closed. */
  dripped: Array<{ socket: Socket; closed: boolean; bytesSent: number }>;
  close(): Promise<void>;
}

/**
 * A provider in front of the real service that forwards everything, but sends each prediction's
 * answer (the real one, with its real headers and content-length) one byte per second.
 */
export async function slowDripProxy(service: RunningService): Promise<DripProxy> {
  const target = new URL(service.url);
  const dripped: DripProxy['dripped'] = [];
  const timers = new Set<NodeJS.Timeout>();
  const proxy: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const upstream = request({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: { ...req.headers, host: target.host } }, (up) => {
        if (!req.url?.endsWith('/predictions')) {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
          return;
        }
        const body: Buffer[] = [];
        up.on('data', (c: Buffer) => body.push(c));
        up.on('end', () => {
          const answer = Buffer.concat(body);
          res.writeHead(up.statusCode ?? 502, { ...up.headers, 'content-length': String(answer.length) });
          res.flushHeaders();
          const entry = { socket: req.socket, closed: false, bytesSent: 0 };
          dripped.push(entry);
          req.socket.once('close', () => {
            entry.closed = true;
          });
          const timer = setInterval(() => {
            if (entry.closed || entry.bytesSent >= answer.length) {
              clearInterval(timer);
              timers.delete(timer);
              return;
            }
            res.write(answer.subarray(entry.bytesSent, entry.bytesSent + 1));
            entry.bytesSent++;
          }, 1000);
          timers.add(timer);
        });
      });
      upstream.on('error', () => res.destroy());
      upstream.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const address = proxy.address();
  return {
    url: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    dripped,
    close: () => {
      for (const timer of timers) clearInterval(timer);
      proxy.closeAllConnections();
      return new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}
