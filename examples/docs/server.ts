import { createServer } from 'ratekeeper/server';

const server = createServer({
  // the same object as the YAML file, validated the same way
  listen: '127.0.0.1:0', // port 0: a free port
  backend: 'sqlite:./ratekeeper.db',
  targets: { hooks: { url: 'http://127.0.0.1:9000/deliver', limits: [{ limit: 30, window: '1s' }] } },
});
const url = await server.listen(); // 'http://127.0.0.1:54321'
// server.app (fastify), server.manager, server.backend, server.metrics
await server.close(); // graceful
