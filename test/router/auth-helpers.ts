/**
 * Fixtures for the auth tests: a tiny scoring front that runs the Authenticator over real HTTP on
 * 127.0.0.1, and a fake OpenID provider (discovery + JWKS) whose keys can be rotated and whose
 * requests are counted.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from "jose";
import pino from "pino";
import type { Authenticator } from "../../router/auth";
import type { ServiceAuthConfig } from "../../router/types";

export async function listen(
    handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ server: Server; base: string; close: () => Promise<void> }> {
    const server = createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return {
        server,
        base: `http://127.0.0.1:${port}`,
        close: () =>
            new Promise<void>((resolve) => {
                server.closeAllConnections();
                server.close(() => resolve());
            }),
    };
}

/**
 * A front that authenticates `/api/v1/service/<name>/score` like the router does: 200 when
 * allowed, else 401 with `WWW-Authenticate`. `configs` is read on every request (rotation).
 */
export async function startFront(auth: Authenticator, configs: Map<string, ServiceAuthConfig>) {
    return listen((req, res) => {
        const name = /^\/api\/v1\/service\/([^/]+)\/score$/.exec(req.url ?? "")?.[1] ?? "";
        const config = configs.get(name);
        if (!config) {
            res.writeHead(404).end();
            return;
        }
        void auth.authenticate(config, req.headers, name).then((result) => {
            if (result.ok) res.writeHead(200).end("ok");
            else res.writeHead(401, { "www-authenticate": result.challenge ?? "" }).end();
        });
    });
}

/** POSTs to the front's scoring URL of `service` with an optional Authorization header. */
export async function score(base: string, service: string, authorization?: string) {
    const res = await fetch(`${base}/api/v1/service/${service}/score`, {
        method: "POST",
        headers: authorization === undefined ? {} : { authorization },
        body: "{}",
    });
    await res.arrayBuffer();
    return { status: res.status, challenge: res.headers.get("www-authenticate") };
}

export interface ProviderKey {
    kid: string;
    privateKey: CryptoKey;
    publicJwk: JWK;
}

export async function providerKey(kid: string, alg = "RS256"): Promise<ProviderKey> {
    const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
    return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, use: "sig" } };
}

/**
 * A fake OpenID provider on 127.0.0.1 shaped like Entra ID: discovery at
 * `/<tenant>/v2.0/.well-known/openid-configuration`, keys at `/<tenant>/discovery/v2.0/keys`.
 */
export async function startProvider(tenant = "tenant-1") {
    const counts = { discovery: 0, jwks: 0 };
    const state = {
        keys: [] as ProviderKey[],
        discoveryIssuer: "",
        jwksStatus: 200,
        hangDiscovery: false,
    };
    const srv = await listen((req, res) => {
        if (req.url === `/${tenant}/v2.0/.well-known/openid-configuration`) {
            counts.discovery++;
            if (state.hangDiscovery) return; // never answers
            res.writeHead(200, { "content-type": "application/json" });
            res.end(
                JSON.stringify({
                    issuer: state.discoveryIssuer,
                    jwks_uri: `${srv.base}/${tenant}/discovery/v2.0/keys`,
                    id_token_signing_alg_values_supported: ["RS256"],
                }),
            );
            return;
        }
        if (req.url === `/${tenant}/discovery/v2.0/keys`) {
            counts.jwks++;
            if (state.jwksStatus !== 200) {
                res.writeHead(state.jwksStatus).end();
                return;
            }
            res.writeHead(200, { "content-type": "application/json" });
            res.end(JSON.stringify({ keys: state.keys.map((k) => k.publicJwk) }));
            return;
        }
        res.writeHead(404).end();
    });
    const issuer = `${srv.base}/${tenant}/v2.0`;
    state.discoveryIssuer = issuer;
    return {
        ...srv,
        issuer,
        discoveryUrl: `${issuer}/.well-known/openid-configuration`,
        counts,
        state,
    };
}

/** An Entra-like access token (RS256, `kid`, `ver`, `tid`), valid for an hour by default. */
export async function entraToken(
    key: ProviderKey,
    claims: { iss: string; aud: string; exp?: number; iat?: number },
    alg = "RS256",
): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ ver: "2.0", tid: "tenant-1", scp: "score", oid: "user-1" })
        .setProtectedHeader({ alg, kid: key.kid, typ: "JWT" })
        .setIssuer(claims.iss)
        .setAudience(claims.aud)
        .setIssuedAt(claims.iat ?? now)
        .setExpirationTime(claims.exp ?? now + 3600)
        .sign(key.privateKey);
}

/** A debug pino logger that records the `reason` code of each log line. */
export function reasonLogger() {
    const reasons: string[] = [];
    const logger = pino(
        { level: "debug" },
        { write: (line: string) => void reasons.push(JSON.parse(line).reason) },
    );
    return { logger, reasons };
}

/** A fetch that counts its calls. */
export function countingFetch() {
    const spy = Object.assign(
        (...args: Parameters<typeof fetch>) => {
            spy.calls++;
            return fetch(...args);
        },
        { calls: 0 },
    );
    return spy;
}
