import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A webhook destination for the end-to-end tests: records the id (`idempotency-key`) of each
 * delivery and answers 400 for events whose payload says `poison` until poison is accepted.
 */
export class WebhookReceiver {
  readonly delivered: string[] = [];
  acceptPoison = false;
  #server: Server | undefined;

  async start(): Promise<string> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (body.includes('"poison":true') && !this.acceptPoison) {
          res.writeHead(400).end('poison refused');

          return;
        }

        this.delivered.push(String(req.headers['idempotency-key']));
        res.writeHead(204).end();
      });
    });
    server.keepAliveTimeout = 1000;
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    this.#server = server;

    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) {
      return;
    }

    const closed = once(server, 'close');
    server.close();
    server.closeAllConnections();
    await closed;
  }
}
