// The distributed roles, loaded only when the service starts with --redis (the embedded service never loads BullMQ).
export { QueueEvaluator } from './queue-evaluator.js';
export { WorkerRole } from './worker-role.js';
export { checkRedis, connectRedis } from './redis.js';
export { RedisSessionStore } from '../sessions/redis-store.js';
