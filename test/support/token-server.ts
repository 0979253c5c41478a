/**
 * A tiny Docker token service for tests (the auth server a registry with `auth.token` sends
 * clients to). It issues ES256 JWTs that Debian's `docker-registry` (distribution 2.8) verifies:
 * the JWT header `kid` is the libtrust key id of the signing key, whose self-signed certificate
 * (made with `openssl`) is the registry's `rootcertbundle`.
 *
 * - `GET /token?service=...&scope=repository:<name>:<actions>` with Basic credentials (or none,
 *   when `anonymousPull`) → `{ token, access_token, expires_in }`.
 * - `POST /token` form `grant_type=refresh_token&refresh_token=...` (ACR's Microsoft Entra
 *   exchange) or `grant_type=password` → `{ access_token, expires_in }`.
 */
import { spawnSync } from "node:child_process";
import { createHash, createPrivateKey, createPublicKey, randomUUID } from "node:crypto";
import { promises as fsp } from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { SignJWT } from "jose";
import { requireTool } from "./docker";

export interface TokenServerOptions {
    readonly issuer: string;
    readonly service: string;
    /** username → password accepted with Basic auth (GET) or grant_type=password (POST). */
    readonly users?: Readonly<Record<string, string>>;
    /** refresh tokens accepted with grant_type=refresh_token (POST). */
    readonly refreshTokens?: readonly string[];
    /** Grant `pull` to requests without credentials. @default false */
    readonly anonymousPull?: boolean;
}

/** One request the token service saw (no secrets). */
export interface TokenRequest {
    readonly method: string;
    readonly grantType?: string;
    readonly user?: string;
    readonly scope?: string;
    readonly status: number;
}

export interface TokenServer {
    /** Realm URL: `http://127.0.0.1:<port>/token`. */
    readonly realm: string;
    readonly issuer: string;
    readonly service: string;
    /** PEM certificate for the registry's `rootcertbundle`. */
    readonly certFile: string;
    readonly requests: TokenRequest[];
    /** Mints a token directly (e.g. to push test images). */
    mint(subject: string, scope: string): Promise<string>;
    stop(): Promise<void>;
}

/** libtrust key id: base32 of the first 240 bits of SHA-256(DER SPKI), in 12 groups of 4. */
export function libtrustKeyId(spkiDer: Buffer): string {
    const bytes = createHash("sha256").update(spkiDer).digest().subarray(0, 30);
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let bits = 0;
    let value = 0;
    let out = "";
    for (const b of bytes) {
        value = (value << 8) | b;
        bits += 8;
        while (bits >= 5) {
            out += alphabet[(value >>> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    return out.match(/.{4}/g)!.join(":");
}

function parseScope(scope: string | null): { type: string; name: string; actions: string[] }[] {
    if (!scope) return [];
    return scope
        .split(" ")
        .filter(Boolean)
        .map((s) => {
            const parts = s.split(":");
            const actions = parts.pop() ?? "";
            const type = parts.shift() ?? "";
            return { type, name: parts.join(":"), actions: actions.split(",").filter(Boolean) };
        });
}

export async function startTokenServer(options: TokenServerOptions): Promise<TokenServer> {
    const openssl = requireTool("openssl", "openssl");
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "amlaks-token-"));
    const keyFile = path.join(dir, "key.pem");
    const certFile = path.join(dir, "cert.pem");
    const r = spawnSync(
        openssl,
        [
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=amlaks-test-token",
            "-days",
            "2",
            "-keyout",
            keyFile,
            "-out",
            certFile,
        ],
        { encoding: "utf8" },
    );
    if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
    const privateKey = createPrivateKey(await fsp.readFile(keyFile));
    const spki = createPublicKey(await fsp.readFile(certFile)).export({
        type: "spki",
        format: "der",
    });
    const kid = libtrustKeyId(spki);
    const requests: TokenRequest[] = [];

    const mint = async (subject: string, scope: string): Promise<string> => {
        const access = parseScope(scope);
        const now = Math.floor(Date.now() / 1000);
        return new SignJWT({ access })
            .setProtectedHeader({ alg: "ES256", typ: "JWT", kid })
            .setIssuer(options.issuer)
            .setAudience(options.service)
            .setSubject(subject)
            .setIssuedAt(now)
            .setNotBefore(now - 10)
            .setExpirationTime(now + 300)
            .setJti(randomUUID())
            .sign(privateKey);
    };

    const server = http.createServer((req, res) => {
        let body = "";
        req.on("data", (d: Buffer) => (body += d.toString()));
        req.on("end", () => {
            void (async () => {
                const url = new URL(req.url ?? "/", "http://x");
                const send = (
                    status: number,
                    json: unknown,
                    entry: Omit<TokenRequest, "status" | "method">,
                ) => {
                    requests.push({ method: req.method ?? "", status, ...entry });
                    res.writeHead(status, { "content-type": "application/json" });
                    res.end(JSON.stringify(json));
                };
                const denied = {
                    errors: [{ code: "UNAUTHORIZED", message: "authentication required" }],
                };
                if (url.pathname !== "/token") return send(404, { errors: [] }, {});
                if (req.method === "GET") {
                    const scope = url.searchParams.get("scope") ?? "";
                    const auth = req.headers.authorization;
                    let user: string | undefined;
                    if (auth?.startsWith("Basic ")) {
                        const [u, ...rest] = Buffer.from(auth.slice(6), "base64")
                            .toString()
                            .split(":");
                        if (
                            options.users?.[u] === undefined ||
                            options.users[u] !== rest.join(":")
                        ) {
                            return send(401, denied, { user: u, scope });
                        }
                        user = u;
                    } else if (!options.anonymousPull) {
                        return send(401, denied, { scope });
                    }
                    const granted = user
                        ? scope
                        : parseScope(scope)
                              .map(
                                  (s) =>
                                      `${s.type}:${s.name}:${s.actions.filter((a) => a === "pull").join(",")}`,
                              )
                              .join(" ");
                    const token = await mint(user ?? "anonymous", granted);
                    return send(
                        200,
                        { token, access_token: token, expires_in: 300 },
                        { user, scope },
                    );
                }
                if (req.method === "POST") {
                    const form = new URLSearchParams(body);
                    const grantType = form.get("grant_type") ?? undefined;
                    const scope = form.get("scope") ?? "";
                    if (form.get("service") !== options.service) {
                        return send(
                            400,
                            { errors: [{ code: "BAD_REQUEST", message: "wrong service" }] },
                            { grantType, scope },
                        );
                    }
                    if (grantType === "refresh_token") {
                        if (!options.refreshTokens?.includes(form.get("refresh_token") ?? "")) {
                            return send(401, denied, { grantType, scope });
                        }
                        const token = await mint("refresh-token-user", scope);
                        return send(
                            200,
                            { access_token: token, expires_in: 300 },
                            { grantType, scope },
                        );
                    }
                    if (grantType === "password") {
                        const u = form.get("username") ?? "";
                        if (
                            options.users?.[u] === undefined ||
                            options.users[u] !== form.get("password")
                        ) {
                            return send(401, denied, { grantType, user: u, scope });
                        }
                        const token = await mint(u, scope);
                        return send(
                            200,
                            { access_token: token, expires_in: 300 },
                            { grantType, user: u, scope },
                        );
                    }
                    return send(
                        400,
                        { errors: [{ code: "UNSUPPORTED", message: "grant_type" }] },
                        { grantType, scope },
                    );
                }
                return send(405, { errors: [] }, {});
            })();
        });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    return {
        realm: `http://127.0.0.1:${port}/token`,
        issuer: options.issuer,
        service: options.service,
        certFile,
        requests,
        mint,
        stop: async () => {
            await new Promise<void>((resolve) => server.close(() => resolve()));
            await fsp.rm(dir, { recursive: true, force: true });
        },
    };
}
