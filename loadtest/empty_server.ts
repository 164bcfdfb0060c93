// The HTTP ceiling of this machine: fastify with one empty route and nothing else (no schema,
// no signature check, no storage), run as its own process like the nodes are.
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.get('/', async () => ({}));
await app.listen({ host: '127.0.0.1', port: 0 });
const addr = app.server.address();
const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
process.stdout.write(JSON.stringify({ event: 'listening', role: 'empty', url: `http://127.0.0.1:${port}` }) + '\n');
process.once('SIGTERM', () => { void app.close().then(() => process.exit(0)); });
