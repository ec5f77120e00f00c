/**
 * A TCP proxy on loopback that a test can cut: every connection through it is dropped at once, as
 * when a gateway is killed or a network path fails. `cut('reset')` sends a TCP RST (a killed
 * process's kernel does the same for unread data), `cut('end')` a FIN.
 */
import { AddressInfo, Server, Socket, createServer, connect } from 'node:net';

export interface TcpProxy {
  /** The proxy's port on 127.0.0.1. */
  port: number;
  /** Connections opened through it so far. */
  opened(): number;
  /** Bytes it has carried from the target to the clients so far (what the clients' sockets read). */
  bytesToClients(): number;
  /** Drops every open connection, both sides; returns how many it dropped. */
  cut(how?: 'reset' | 'end'): number;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  let opened = 0;
  let toClients = 0;
  const server: Server = createServer((client) => {
    opened++;
    const upstream = connect(targetPort, targetHost);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    upstream.on('data', (chunk: Buffer) => (toClients += chunk.length));
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    opened: () => opened,
    bytesToClients: () => toClients,
    cut(how = 'reset') {
      const n = pairs.size;
      for (const pair of [...pairs]) {
        pairs.delete(pair);
        for (const s of pair) how === 'reset' ? s.resetAndDestroy() : s.end();
      }
      return n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const pair of pairs) for (const s of pair) s.destroy();
        server.close(() => resolve());
      }),
  };
}
