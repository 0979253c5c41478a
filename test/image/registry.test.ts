// Registry lookups (R14) against real registries: Debian's docker-registry (distribution 2.8)
// anonymous, with htpasswd Basic auth, and with token auth (a tiny token service issues the JWTs
// the registry verifies). See test/support/docker.ts and test/support/token-server.ts.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import {
    ACR_REFRESH_TOKEN_USERNAME,
    MANIFEST_MEDIA_TYPES,
    RegistryClient,
    RegistryError,
    findImage,
    isLoopbackHost,
    lookupManifest,
    parseAuthenticateHeader,
    parseRegistryServer,
} from "../../components/image/registry";
import { freePort, pushTestImage, startRegistry, type RegistryHandle } from "../support/docker";
import { startTokenServer, type TokenServer } from "../support/token-server";

const REPO = "azureml/azureml_0123456789abcdef0123456789abcdef";
const TAG = "0123456789abcdef0123456789abcdef";
const PASSWORD = "s3cret-Passw0rd!";

function isRegistryError(code: string, pattern: RegExp) {
    return (e: unknown) => {
        assert.ok(e instanceof RegistryError, `expected RegistryError, got ${String(e)}`);
        assert.equal(e.code, code, e.message);
        assert.match(e.message, pattern);
        assert.ok(!e.message.includes(PASSWORD), "the password must never appear in a message");
        return true;
    };
}

describe("parsing", () => {
    test("WWW-Authenticate challenges", () => {
        assert.deepEqual(
            parseAuthenticateHeader(
                'Bearer realm="https://myacr.azurecr.io/oauth2/token",service="myacr.azurecr.io",scope="repository:a/b:pull,push"',
            ),
            [
                {
                    scheme: "bearer",
                    params: {
                        realm: "https://myacr.azurecr.io/oauth2/token",
                        service: "myacr.azurecr.io",
                        scope: "repository:a/b:pull,push",
                    },
                },
            ],
        );
        assert.deepEqual(parseAuthenticateHeader('Basic realm="Registry Realm"'), [
            { scheme: "basic", params: { realm: "Registry Realm" } },
        ]);
        assert.deepEqual(
            parseAuthenticateHeader('Basic realm=x, Bearer realm="y\\"z", error=invalid_token'),
            [
                { scheme: "basic", params: { realm: "x" } },
                { scheme: "bearer", params: { realm: 'y"z', error: "invalid_token" } },
            ],
        );
    });

    test("http for loopback registries, https otherwise, explicit scheme wins", () => {
        assert.equal(parseRegistryServer("127.0.0.1:5000").baseUrl, "http://127.0.0.1:5000");
        assert.equal(parseRegistryServer("localhost:5000").protocol, "http");
        assert.equal(parseRegistryServer("[::1]:5000").protocol, "http");
        assert.equal(parseRegistryServer("myacr.azurecr.io").baseUrl, "https://myacr.azurecr.io");
        assert.equal(
            parseRegistryServer("http://registry.internal:5000").baseUrl,
            "http://registry.internal:5000",
        );
        assert.equal(parseRegistryServer("https://127.0.0.1:5000").protocol, "https");
        assert.equal(parseRegistryServer("myacr.azurecr.io", "http").protocol, "http");
        assert.equal(parseRegistryServer("https://MyAcr.AzureCR.io").host, "myacr.azurecr.io");
        assert.ok(isLoopbackHost("127.1.2.3:80") && !isLoopbackHost("10.0.0.1"));
    });

    test("invalid servers, repositories and tags are refused before any request", async () => {
        await assert.rejects(
            lookupManifest({ server: "myacr.azurecr.io/path" }, REPO, TAG),
            isRegistryError("invalid", /without a path/),
        );
        await assert.rejects(
            lookupManifest({ server: "127.0.0.1:99999" }, REPO, TAG),
            isRegistryError("invalid", /port outside/),
        );
        await assert.rejects(
            lookupManifest({ server: "127.0.0.1:5000" }, "Azureml/X", TAG),
            isRegistryError("invalid", /repository name/),
        );
        await assert.rejects(
            lookupManifest({ server: "127.0.0.1:5000" }, REPO, "bad tag"),
            isRegistryError("invalid", /tag or digest/),
        );
    });

    test("asks for Docker v2 + manifest list + OCI manifest + OCI index", () => {
        assert.deepEqual(
            [...MANIFEST_MEDIA_TYPES],
            [
                "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.docker.distribution.manifest.list.v2+json",
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.oci.image.index.v1+json",
            ],
        );
    });
});

describe("anonymous registry", () => {
    let reg: RegistryHandle;
    let other: RegistryHandle;
    let pushed: string;
    before(async () => {
        [reg, other] = await Promise.all([startRegistry(), startRegistry()]);
        pushed = (await pushTestImage(reg.url, REPO, TAG)).digest;
    });
    after(async () => {
        await Promise.all([reg?.stop(), other?.stop()]);
    });

    test("found: digest equals the one the push produced", async () => {
        const r = await lookupManifest({ server: reg.host }, REPO, TAG);
        assert.deepEqual(r, {
            found: true,
            digest: pushed,
            mediaType: "application/vnd.docker.distribution.manifest.v2+json",
            registry: reg.host,
            repository: REPO,
            reference: TAG,
        });
    });

    test("not found: unknown tag, unknown repository", async () => {
        assert.equal((await lookupManifest({ server: reg.host }, REPO, "other")).found, false);
        assert.equal(
            (await lookupManifest({ server: reg.host }, "azureml/nothing", TAG)).found,
            false,
        );
    });

    test("lookup by digest", async () => {
        assert.equal((await lookupManifest({ server: reg.host }, REPO, pushed)).digest, pushed);
    });

    test("R14 order: the workspace registry wins over fallbacks", async () => {
        const otherDigest = (await pushTestImage(other.url, REPO, TAG, { content: "other" }))
            .digest;
        assert.notEqual(otherDigest, pushed);
        const r = await findImage({ server: reg.host }, [{ server: other.host }], REPO, TAG);
        assert.equal(r.found, true);
        assert.equal(r.index, 0);
        assert.equal(r.imageRef, `${reg.host}/${REPO}@${pushed}`);
        assert.deepEqual(r.searched, [reg.host]);
    });

    test("R14 order: a miss in the workspace registry falls back, reused by digest where found", async () => {
        const repo = "azureml/azureml_fallback0000000000000000000000000";
        const d = (await pushTestImage(other.url, repo, TAG)).digest;
        const r = await findImage({ server: reg.host }, [{ server: other.host }], repo, TAG);
        assert.deepEqual(r, {
            found: true,
            registry: other.host,
            digest: d,
            imageRef: `${other.host}/${repo}@${d}`,
            index: 1,
            searched: [reg.host, other.host],
            warnings: [],
        });
    });

    test("a miss everywhere is reported with the registries searched", async () => {
        const r = await findImage(
            { server: reg.host },
            [{ server: other.host }],
            "azureml/absent",
            TAG,
        );
        assert.deepEqual(r, { found: false, searched: [reg.host, other.host], warnings: [] });
    });

    test("a failing fallback is a warning and a miss; a failing workspace registry is an error", async () => {
        const closed = `127.0.0.1:${await freePort()}`;
        const r = await findImage(
            { server: reg.host },
            [{ server: closed, username: "u", password: PASSWORD }],
            "azureml/absent",
            TAG,
        );
        assert.equal(r.found, false);
        assert.equal(r.warnings.length, 1);
        assert.match(
            r.warnings[0],
            new RegExp(`fallback registry ${closed} skipped: .*connection refused`),
        );
        assert.ok(!r.warnings[0].includes(PASSWORD));
        await assert.rejects(
            findImage({ server: closed }, [{ server: reg.host }], REPO, TAG),
            isRegistryError("network", /connection refused by http:\/\/127\.0\.0\.1:\d+/),
        );
    });
});

describe("htpasswd (Basic auth) registry", () => {
    let reg: RegistryHandle;
    let pushed: string;
    before(async () => {
        reg = await startRegistry({ htpasswd: { username: "tester", password: PASSWORD } });
        const authorization = `Basic ${Buffer.from(`tester:${PASSWORD}`).toString("base64")}`;
        pushed = (await pushTestImage(reg.url, REPO, TAG, { authorization })).digest;
    });
    after(() => reg?.stop());

    test("with the right credentials: found, same digest", async () => {
        const r = await lookupManifest(
            { server: reg.host, username: "tester", password: PASSWORD },
            REPO,
            TAG,
        );
        assert.equal(r.found, true);
        assert.equal(r.digest, pushed);
        const miss = await lookupManifest(
            { server: reg.host, username: "tester", password: PASSWORD },
            REPO,
            "nope",
        );
        assert.equal(miss.found, false);
    });

    test("without credentials: a clear auth error", async () => {
        await assert.rejects(
            lookupManifest({ server: reg.host }, REPO, TAG),
            isRegistryError("auth", /requires credentials to read .*\(HTTP 401\)/),
        );
    });

    test("with a wrong password: rejected, and the password is not echoed", async () => {
        await assert.rejects(
            lookupManifest(
                { server: reg.host, username: "tester", password: `${PASSWORD}x` },
                REPO,
                TAG,
            ),
            isRegistryError("auth", /rejected the credentials of user "tester" .*\(HTTP 401\)/),
        );
    });
});

describe("token auth registry (Docker token flow, ACR-style)", () => {
    let tokens: TokenServer;
    let reg: RegistryHandle;
    let pushed: string;
    before(async () => {
        tokens = await startTokenServer({
            issuer: "amlaks-test-issuer",
            service: "amlaks-test-registry",
            users: { alice: PASSWORD },
            refreshTokens: ["aad-refresh-token-1234"],
        });
        reg = await startRegistry({
            token: {
                realm: tokens.realm,
                service: tokens.service,
                issuer: tokens.issuer,
                rootCertBundle: tokens.certFile,
            },
        });
        const token = await tokens.mint("alice", `repository:${REPO}:pull,push`);
        pushed = (await pushTestImage(reg.url, REPO, TAG, { authorization: `Bearer ${token}` }))
            .digest;
    });
    after(async () => {
        await reg?.stop();
        await tokens?.stop();
    });

    test("username/password: GET realm with Basic creds, bearer token, found", async () => {
        const before = tokens.requests.length;
        const r = await lookupManifest(
            { server: reg.host, username: "alice", password: PASSWORD },
            REPO,
            TAG,
        );
        assert.equal(r.found, true);
        assert.equal(r.digest, pushed);
        assert.deepEqual(tokens.requests.slice(before), [
            { method: "GET", status: 200, user: "alice", scope: `repository:${REPO}:pull` },
        ]);
    });

    test("ACR + Entra: user 00000000-... exchanges the refresh token with POST grant_type=refresh_token", async () => {
        const before = tokens.requests.length;
        const r = await lookupManifest(
            {
                server: reg.host,
                username: ACR_REFRESH_TOKEN_USERNAME,
                password: "aad-refresh-token-1234",
            },
            REPO,
            TAG,
        );
        assert.equal(r.digest, pushed);
        assert.deepEqual(tokens.requests.slice(before), [
            {
                method: "POST",
                status: 200,
                grantType: "refresh_token",
                scope: `repository:${REPO}:pull`,
            },
        ]);
    });

    test("tokens are reused for their lifetime, but never across credentials", async () => {
        const client = new RegistryClient();
        const before = tokens.requests.length;
        await client.lookupManifest(
            { server: reg.host, username: "alice", password: PASSWORD },
            REPO,
            TAG,
        );
        await client.lookupManifest(
            { server: reg.host, username: "alice", password: PASSWORD },
            REPO,
            "nope",
        );
        assert.equal(tokens.requests.length - before, 1);
        await assert.rejects(
            client.lookupManifest(
                { server: reg.host, username: "alice", password: "wrong-one" },
                REPO,
                TAG,
            ),
            isRegistryError("auth", /token service of .* rejected the credentials of user "alice"/),
        );
    });

    test("wrong password: an auth error that names the user, not the password", async () => {
        await assert.rejects(
            lookupManifest(
                { server: reg.host, username: "alice", password: `${PASSWORD}-wrong` },
                REPO,
                TAG,
            ),
            (e: unknown) => {
                assert.ok(e instanceof RegistryError);
                assert.equal(e.code, "auth");
                assert.ok(
                    !e.message.includes(`${PASSWORD}-wrong`) && !e.message.includes(PASSWORD),
                );
                assert.match(e.message, /UNAUTHORIZED/);
                return true;
            },
        );
    });

    test("anonymous when the token service refuses anonymous pulls: auth error", async () => {
        await assert.rejects(
            lookupManifest({ server: reg.host }, REPO, TAG),
            isRegistryError("auth", /rejected the anonymous request/),
        );
    });

    test("not found with a valid token", async () => {
        const r = await lookupManifest(
            { server: reg.host, username: "alice", password: PASSWORD },
            REPO,
            "nope",
        );
        assert.equal(r.found, false);
    });
});

describe("anonymous token flow (public registries such as MCR)", () => {
    test("a bearer challenge is answered with an anonymous token", async () => {
        const tokens = await startTokenServer({ issuer: "i", service: "s", anonymousPull: true });
        const reg = await startRegistry({
            token: {
                realm: tokens.realm,
                service: "s",
                issuer: "i",
                rootCertBundle: tokens.certFile,
            },
        });
        try {
            const pushToken = await tokens.mint("admin", `repository:${REPO}:pull,push`);
            const d = (
                await pushTestImage(reg.url, REPO, TAG, { authorization: `Bearer ${pushToken}` })
            ).digest;
            const r = await lookupManifest({ server: reg.host }, REPO, TAG);
            assert.equal(r.digest, d);
        } finally {
            await reg.stop();
            await tokens.stop();
        }
    });
});

describe("failures are clear", () => {
    let server: http.Server;
    let port: number;
    let mode = "500";
    let closedPort: number;
    before(async () => {
        closedPort = await freePort();
        server = http.createServer((_req, res) => {
            if (mode === "500") {
                res.writeHead(500).end("boom");
            } else if (mode === "nodigest") {
                res.writeHead(200, {
                    "content-type": "application/vnd.docker.distribution.manifest.v2+json",
                }).end();
            } else if (mode === "slow") {
                setTimeout(() => res.writeHead(404).end(), 1000);
            } else if (mode === "badrealm") {
                res.writeHead(401, { "www-authenticate": 'Bearer service="x"' }).end();
            } else {
                res.writeHead(401, {
                    "www-authenticate": `Bearer realm="http://127.0.0.1:${closedPort}/token",service="x"`,
                }).end();
            }
        });
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
        port = (server.address() as AddressInfo).port;
    });
    after(() => new Promise<void>((r) => server.close(() => r())));

    test("HTTP 500", async () => {
        mode = "500";
        await assert.rejects(
            lookupManifest({ server: `127.0.0.1:${port}` }, REPO, TAG),
            isRegistryError(
                "http",
                new RegExp(
                    `Registry 127\\.0\\.0\\.1:${port} answered HTTP 500 for 127\\.0\\.0\\.1:${port}/${REPO}:${TAG}`,
                ),
            ),
        );
    });

    test("200 without Docker-Content-Digest", async () => {
        mode = "nodigest";
        await assert.rejects(
            lookupManifest({ server: `127.0.0.1:${port}` }, REPO, TAG),
            isRegistryError("protocol", /no valid Docker-Content-Digest/),
        );
    });

    test("timeout", async () => {
        mode = "slow";
        await assert.rejects(
            lookupManifest({ server: `127.0.0.1:${port}` }, REPO, TAG, { timeoutMs: 300 }),
            isRegistryError("timeout", /did not answer within 300 ms/),
        );
    });

    test("a bearer challenge without realm, and an unreachable token service", async () => {
        mode = "badrealm";
        await assert.rejects(
            lookupManifest({ server: `127.0.0.1:${port}` }, REPO, TAG),
            isRegistryError("protocol", /without a usable realm/),
        );
        mode = "deadrealm";
        await assert.rejects(
            lookupManifest(
                { server: `127.0.0.1:${port}`, username: "u", password: PASSWORD },
                REPO,
                TAG,
            ),
            isRegistryError(
                "network",
                new RegExp(
                    `token service of 127.0.0.1:${port} failed: connection refused by http://127.0.0.1:${closedPort}`,
                ),
            ),
        );
    });

    test("DNS failure names the host", async () => {
        await assert.rejects(
            lookupManifest({ server: "amlaks-no-such-registry.invalid" }, REPO, TAG, {
                timeoutMs: 10000,
            }),
            (e: unknown) => {
                assert.ok(e instanceof RegistryError, String(e));
                // Without any DNS server the resolver may time out instead of answering NXDOMAIN.
                assert.ok(e.code === "network" || e.code === "timeout", e.message);
                assert.match(e.message, /amlaks-no-such-registry\.invalid/);
                return true;
            },
        );
    });
});
