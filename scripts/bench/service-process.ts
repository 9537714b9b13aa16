// The bundled service as the app runs it: a separate process (main/provider/bundled-service.ts).
import { readFileSync } from 'node:fs';
import type { CatalogModel } from '../../he-core/index.js';
import { launchBundledService } from '../../main/provider/bundled-service.js';
import type { BundledService } from '../../main/provider/bundled-service.js';
import { providerFor } from './client.js';
import type { Endpoint } from './client.js';

export interface ServiceProcess {
  endpoint: Endpoint;
  catalog: CatalogModel[];
  /** The service process's id, when known. */
  pid: number | undefined;
  /** The service process's resident set (VmRSS), bytes. */
  rss(): number;
  stop(): Promise<void>;
}

export async function startServiceProcess(workers: number, extraArgs: readonly string[] = []): Promise<ServiceProcess> {
  const service: BundledService = await launchBundledService({ workers, extraArgs });
  try {
    const endpoint = { url: service.url, token: service.token };
    const catalog = await providerFor(endpoint).catalog();
    const pid = service.child?.pid;
    return {
      endpoint,
      catalog,
      pid,
      rss() {
        if (pid === undefined) throw new Error('the service process has no pid: cannot read its RSS');
        const status = readFileSync(`/proc/${pid}/status`, 'utf8');
        const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
        if (!kb) throw new Error(`no VmRSS in /proc/${pid}/status`);
        return Number(kb[1]) * 1024;
      },
      stop: () => service.stop(),
    };
  } catch (err) {
    await service.stop();
    throw err;
  }
}
