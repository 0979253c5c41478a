/**
 * ACR with Microsoft Entra credentials (issue 11 item 3), against a local server that speaks the
 * ACR token endpoints: `/oauth2/exchange` (Entra access token → ACR refresh token) and
 * `/oauth2/token` (refresh token → access token for a scope), in front of a registry that answers
 * 401 to anonymous manifest requests, as an ACR with its admin user off does.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import {
    ACR_ENTRA_SCOPE,
    acrEntraCredentials,
    exchangeForAcrRefreshToken,
    isAcrHost,
} from "../../components/image/acr-auth";
import {
    ACR_REFRESH_TOKEN_USERNAME,
    RegistryClient,
    RegistryError,
} from "../../components/image/registry";

const ENTRA = "entra-access-token-0123456789";
const REFRESH = "acr-refresh-token-abcdef";
const ACCESS = "acr-access-token-987";
const DIGEST = `sha256:${"c".repeat(64)}`;
let server: Server;
let host = "";
const seen: string[] = [];

function form(req: import("node:http").IncomingMessage): Promise<URLSearchParams> {
    return new Promise((resolve) => {
        let body = "";
        req.on("data", (c) => (body += c));
        req.on("end", () => resolve(new URLSearchParams(body)));
    });
}

before(async () => {
    server = createServer(async (req, res) => {
        const url = new URL(req.url ?? "/", `http://${host}`);
        seen.push(`${req.method} ${url.pathname}`);
        if (req.method === "POST" && url.pathname === "/oauth2/exchange") {
            const f = await form(req);
            const ok =
                f.get("grant_type") === "access_token" &&
                f.get("service") === host &&
                f.get("access_token") === ENTRA;
            res.writeHead(ok ? 200 : 401, { "content-type": "application/json" });
            res.end(
                JSON.stringify(
                    ok ? { refresh_token: REFRESH } : { errors: [{ code: "UNAUTHORIZED" }] },
                ),
            );
            return;
        }
        if (req.method === "GET" && url.pathname === "/oauth2/token") {
            // Anonymous token requests: refused when anonymous pull is off.
            res.writeHead(401, { "content-type": "application/json" }).end("{}");
            return;
        }
        if (req.method === "POST" && url.pathname === "/oauth2/token") {
            const f = await form(req);
            const ok =
                f.get("grant_type") === "refresh_token" &&
                f.get("refresh_token") === REFRESH &&
                f.get("scope") === "repository:azureml/env:pull" &&
                f.get("service") === host;
            res.writeHead(ok ? 200 : 401, { "content-type": "application/json" });
            res.end(JSON.stringify(ok ? { access_token: ACCESS } : {}));
            return;
        }
        if (url.pathname.startsWith("/v2/azureml/env/manifests/")) {
            if (req.headers.authorization !== `Bearer ${ACCESS}`) {
                res.writeHead(401, {
                    "www-authenticate": `Bearer realm="http://${host}/oauth2/token",service="${host}",scope="repository:azureml/env:pull"`,
                });
                res.end();
                return;
            }
            res.writeHead(url.pathname.endsWith("/v1") ? 200 : 404, {
                "docker-content-digest": DIGEST,
                "content-type": "application/vnd.oci.image.manifest.v1+json",
            });
            res.end();
            return;
        }
        res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(() => server.close());

const credential = (token: string) => ({
    scopes: [] as string[],
    async getToken(scopes: string | string[]) {
        this.scopes.push(...[scopes].flat());
        return { token };
    },
});

describe("ACR with Microsoft Entra credentials", () => {
    test("anonymous lookups get 401 (admin user off)", async () => {
        await assert.rejects(
            new RegistryClient().lookupManifest({ server: host }, "azureml/env", "v1"),
            (e: unknown) => e instanceof RegistryError && e.code === "auth",
        );
    });

    test("exchanges an Entra token for a refresh token, which then reads manifests", async () => {
        const cred = credential(ENTRA);
        const creds = await acrEntraCredentials(host, cred);
        assert.deepEqual(cred.scopes, [ACR_ENTRA_SCOPE]);
        assert.deepEqual(creds, { username: ACR_REFRESH_TOKEN_USERNAME, password: REFRESH });
        const client = new RegistryClient();
        const hit = await client.lookupManifest({ server: host, ...creds }, "azureml/env", "v1");
        assert.equal(hit.found, true);
        assert.equal(hit.digest, DIGEST);
        const miss = await client.lookupManifest({ server: host, ...creds }, "azureml/env", "v2");
        assert.equal(miss.found, false);
        assert.ok(seen.includes("POST /oauth2/exchange") && seen.includes("POST /oauth2/token"));
    });

    test("a refused Entra token is an auth error that names the roles and never the token", async () => {
        await assert.rejects(
            exchangeForAcrRefreshToken(host, "wrong-token-secret-42"),
            (e: unknown) => {
                assert.ok(e instanceof RegistryError);
                assert.equal(e.code, "auth");
                assert.match(e.message, /HTTP 401.*AcrPull.*AcrPush/);
                assert.ok(!e.message.includes("wrong-token-secret-42"));
                return true;
            },
        );
    });

    test("a credential that cannot sign in says how to", async () => {
        const failing = {
            async getToken(): Promise<{ token: string } | null> {
                throw new Error("DefaultAzureCredential failed to retrieve a token\nmore");
            },
        };
        await assert.rejects(acrEntraCredentials(host, failing), /az login/);
    });

    test("recognises ACR login servers only", () => {
        assert.equal(isAcrHost("myacr.azurecr.io"), true);
        assert.equal(isAcrHost("https://myacr.azurecr.io"), true);
        assert.equal(isAcrHost("my-acr.azurecr.cn"), true);
        assert.equal(isAcrHost("ghcr.io"), false);
        assert.equal(isAcrHost("127.0.0.1:5000"), false);
        assert.equal(isAcrHost("azurecr.io.evil.example"), false);
    });
});
