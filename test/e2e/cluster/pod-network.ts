/**
 * How processes inside test hosts (network namespaces at pod addresses) reach a server of the
 * control plane that listens on 127.0.0.1 only: a TCP forwarder in the test process, listening on
 * the host side address of every veth (HOST_SIDE_IP), dialling 127.0.0.1:<port> afresh for each
 * connection (so it keeps working across a restart of the target on the same port).
 *
 * The forwarder listens before any test host exists, so the address must be local already: it is
 * added to `lo` when no interface has it, and removed again on close. Nothing leaves the machine.
 */
import { execFileSync } from "node:child_process";
import { connect, createServer, type Socket } from "node:net";

export interface Forwarder {
    /** The port the forwarder listens on, at the listen address. */
    readonly port: number;
    /** Stops listening, cuts open connections, releases the address if it added it. */
    close(): Promise<void>;
}

function ip(args: string[]): string {
    return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/**
 * Makes `addr` a local address (on `lo`) unless an interface has it already. Returns the undo,
 * a no-op when the address was there before (it belongs to someone else then).
 */
export function ensureLocalAddress(addr: string): () => void {
    if (ip(["-o", "-4", "addr", "show", "to", `${addr}/32`]).trim() !== "") return () => {};
    try {
        ip(["addr", "add", `${addr}/32`, "dev", "lo"]);
    } catch {
        return () => {}; // added concurrently by another run: theirs to remove
    }
    const undo = (): void => {
        process.off("exit", undo);
        try {
            ip(["addr", "del", `${addr}/32`, "dev", "lo"]);
        } catch {
            // already gone
        }
    };
    // Also on an exit without close (a failed test run): the address is ours to remove.
    process.once("exit", undo);
    return undo;
}

/** Forwards every TCP connection accepted on `listenHost` to 127.0.0.1:`targetPort`. */
export async function startForwarder(listenHost: string, targetPort: number): Promise<Forwarder> {
    const release = ensureLocalAddress(listenHost);
    const open = new Set<Socket>();
    const track = (s: Socket): void => {
        open.add(s);
        s.once("close", () => open.delete(s));
    };
    const server = createServer((client) => {
        const upstream = connect(targetPort, "127.0.0.1");
        track(client);
        track(upstream);
        // Either side failing ends both: the caller sees a reset, as with a direct connection.
        client.on("error", () => upstream.destroy());
        upstream.on("error", () => client.destroy());
        client.pipe(upstream).pipe(client);
    });
    let port: number;
    try {
        port = await new Promise<number>((resolve, reject) => {
            server.once("error", reject);
            server.listen(0, listenHost, () => {
                const addr = server.address();
                if (typeof addr === "object" && addr) resolve(addr.port);
                else reject(new Error("forwarder has no port"));
            });
        });
    } catch (e) {
        server.close();
        release();
        throw e;
    }
    return {
        port,
        async close() {
            for (const s of open) s.destroy();
            await new Promise<void>((resolve) => server.close(() => resolve()));
            release();
        },
    };
}
