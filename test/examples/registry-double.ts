/**
 * An OCI registry double on 127.0.0.1 for the examples that use `ModelImage`: it answers the
 * manifest lookups (`HEAD /v2/<repository>/manifests/<tag>`) the component makes before it decides
 * to build, records them, and holds the images a test puts in it. No push, no blobs: the build
 * and push are `docker.Image` resources, which the mocks answer.
 */
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

const MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json";

export interface RegistryDouble {
    /** `127.0.0.1:<port>`: a loopback registry, so the component uses plain HTTP and no Entra login. */
    readonly host: string;
    /** `<repository>:<tag>` of every manifest lookup, in order. */
    readonly lookups: string[];
    /** Makes `<repository>:<tag>` exist; returns its digest. */
    add(repository: string, tag: string): string;
    close(): Promise<void>;
}

export async function startRegistryDouble(): Promise<RegistryDouble> {
    const images = new Map<string, string>();
    const lookups: string[] = [];
    const server: Server = createServer((req, res) => {
        const url = new URL(req.url ?? "/", "http://registry");
        const m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
        if (url.pathname === "/v2/" || url.pathname === "/v2") {
            res.writeHead(200, { "Docker-Distribution-API-Version": "registry/2.0" }).end("{}");
            return;
        }
        if (!m || (req.method !== "HEAD" && req.method !== "GET")) {
            res.writeHead(404).end();
            return;
        }
        const key = `${m[1]}:${decodeURIComponent(m[2]!)}`;
        lookups.push(key);
        const digest = images.get(key);
        if (!digest) {
            res.writeHead(404, { "Content-Type": "application/json" }).end(
                req.method === "HEAD" ? undefined : '{"errors":[{"code":"MANIFEST_UNKNOWN"}]}',
            );
            return;
        }
        res.writeHead(200, {
            "Content-Type": MANIFEST_TYPE,
            "Docker-Content-Digest": digest,
            "Docker-Distribution-API-Version": "registry/2.0",
        }).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return {
        host: `127.0.0.1:${port}`,
        lookups,
        add(repository, tag) {
            const digest = `sha256:${createHash("sha256").update(`${repository}:${tag}`).digest("hex")}`;
            images.set(`${repository}:${tag}`, digest);
            return digest;
        },
        close: () =>
            new Promise<void>((resolve) => {
                server.closeAllConnections();
                server.close(() => resolve());
            }),
    };
}
