/**
 * Free TCP ports for local replicas: bind port 0 on the host, read the port the OS chose, release
 * it and hand it to the child through SERVER_PORT. Another process can take the port between the
 * release and the child's bind; the local backend detects that (EADDRINUSE in the child's stderr)
 * and restarts the replica on a new port.
 */
import net from "node:net";

function probe(host: string): Promise<number> {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.unref();
        server.once("error", reject);
        server.listen({ host, port: 0, exclusive: true }, () => {
            const address = server.address();
            const port = typeof address === "object" && address ? address.port : 0;
            server.close(() => (port > 0 ? resolve(port) : reject(new Error("no port assigned"))));
        });
    });
}

/**
 * Returns a port that was free on `host` a moment ago and is not in `avoid` (ports already handed
 * to replicas that may not have bound yet). Retries on EADDRINUSE / a port in `avoid`.
 */
export async function allocatePort(
    host: string,
    avoid: ReadonlySet<number> = new Set(),
    attempts = 10,
): Promise<number> {
    let lastError: unknown;
    for (let i = 0; i < attempts; i++) {
        try {
            const port = await probe(host);
            if (!avoid.has(port)) return port;
        } catch (err) {
            lastError = err;
            if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
        }
    }
    throw new Error(
        `no free port on ${host} after ${attempts} attempts` +
            (lastError ? `: ${(lastError as Error).message}` : ""),
    );
}
