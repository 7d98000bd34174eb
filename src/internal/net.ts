import net from "node:net";

/**
 * A free TCP port on 127.0.0.1: bound to port 0 and released, for a server started right after (a chain node, an
 * agent's API). Another process can take it in between; callers that start a child on it retry on "address in use".
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
