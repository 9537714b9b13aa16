// Loaded with --import into a process started by the stand-in's utilityProcess.fork: gives it
// Electron's `process.parentPort` (messages arrive as `{ data, ports }`) and, as in Electron, no
// `process.send`. Worker threads of that process get neither.
import { EventEmitter } from 'node:events';
import { isMainThread } from 'node:worker_threads';

if (isMainThread && typeof process.send === 'function') {
  const send = process.send.bind(process);
  const parentPort = Object.assign(new EventEmitter(), {
    postMessage(message: unknown): void {
      send(message);
    },
  });
  process.on('message', (data: unknown) => parentPort.emit('message', { data, ports: [] }));
  Object.defineProperty(process, 'parentPort', { value: parentPort, enumerable: false });
  Object.defineProperty(process, 'send', { value: undefined, configurable: true, writable: true });
  // Chromium ends a utility process whose browser process is gone.
  process.once('disconnect', () => process.exit(0));
}
