// One thread of the machine-ceiling measurement (ceiling.ts): node-seal rotations at the model's
// top level, as many as fit in the time it is given, on its own SEAL instance.
import { parentPort, workerData } from 'node:worker_threads';
import type { ModelFile } from '../../he-core/index.js';
import { CalibrationRig } from './calibration.js';

const port = parentPort!;
const rig = await CalibrationRig.create(workerData as ModelFile);
rig.measure(3);
port.on('message', (seconds: number) => {
  if (seconds <= 0) {
    rig.dispose();
    port.close();
    return;
  }
  const started = performance.now();
  const end = started + seconds * 1000;
  let operations = 0;
  while (performance.now() < end) {
    rig.measure(4);
    operations += 4;
  }
  port.postMessage(operations / ((performance.now() - started) / 1000));
});
port.postMessage('ready');
