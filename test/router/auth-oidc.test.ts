// Token auth with external OpenID issuers (Microsoft Entra ID shape): discovery + JWKS served by a
// real HTTP server on 127.0.0.1; rotation, refetch limits, fail-closed behaviour.
import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Authenticator, CHALLENGE_INVALID, tokenAuthConfig } from "../../router/auth";
import type { OidcTrust, ServiceAuthConfig } from "../../router/types";
import {
    countingFetch,
    entraToken,
    listen,
    providerKey,
    reasonLogger,
    startProvider,
    type ProviderKey,
} from "./auth-helpers";

const SERVICE = "churn-model";
const CLIENT_ID = "00000000-0000-0000-0000-0000000000aa";

function bearer(token: string) {
    return { authorization: `Bearer ${token}` };
}

function configFor(trust: OidcTrust): ServiceAuthConfig {
    return tokenAuthConfig({ service: SERVICE, oidc: [trust] });
}

describe("OIDC trust (Entra v2 shape)", () => {
    let provider: Awaited<ReturnType<typeof startProvider>>;
    let k1: ProviderKey;
    let k2: ProviderKey;
    let trust: OidcTrust;

    before(async () => {
        provider = await startProvider();
        k1 = await providerKey("kid-1");
        k2 = await providerKey("kid-2");
        provider.state.keys = [k1];
        trust = { issuer: provider.issuer, audience: CLIENT_ID };
    });
    after(() => provider.close());
    beforeEach(() => {
        // Each test starts from a healthy provider serving kid-1, whatever the last one did.
        provider.state.keys = [k1];
        provider.state.jwksStatus = 200;
        provider.state.discoveryIssuer = provider.issuer;
    });

    test("valid token accepted; wrong aud, wrong iss, expired, foreign key rejected", async () => {
        const auth = new Authenticator();
        const config = configFor(trust);
        const ok = async (t: string) => (await auth.authenticate(config, bearer(t), SERVICE)).ok;
        assert.equal(
            await ok(await entraToken(k1, { iss: provider.issuer, aud: CLIENT_ID })),
            true,
        );
        assert.equal(
            await ok(await entraToken(k1, { iss: provider.issuer, aud: "api://x" })),
            false,
        );
        const otherIss = `${provider.base}/other-tenant/v2.0`;
        assert.equal(await ok(await entraToken(k1, { iss: otherIss, aud: CLIENT_ID })), false);
        const past = Math.floor(Date.now() / 1000) - 7200;
        assert.equal(
            await ok(
                await entraToken(k1, {
                    iss: provider.issuer,
                    aud: CLIENT_ID,
                    iat: past,
                    exp: past + 3600,
                }),
            ),
            false,
        );
        const stranger = await providerKey("kid-1"); // same kid, different key: bad signature
        assert.equal(
            await ok(await entraToken(stranger, { iss: provider.issuer, aud: CLIENT_ID })),
            false,
        );
        auth.close();
    });

    test("JWKS rotation: a new kid triggers a refresh; the removed key is rejected after it", async () => {
        const auth = new Authenticator({ oidc: { cooldownSeconds: 0 } });
        const config = configFor(trust);
        const ok = async (t: string) => (await auth.authenticate(config, bearer(t), SERVICE)).ok;
        const claims = { iss: provider.issuer, aud: CLIENT_ID };
        const oldToken = await entraToken(k1, claims);
        assert.equal(await ok(oldToken), true);
        const before = provider.counts.jwks;
        provider.state.keys = [k2]; // the provider rotates and drops kid-1
        assert.equal(await ok(await entraToken(k2, claims)), true);
        assert.equal(provider.counts.jwks, before + 1, "unknown kid refetched the JWKS once");
        assert.equal(await ok(oldToken), false);
        auth.close();
    });

    test("unknown kids cannot force a refetch storm (cooldown)", async () => {
        const auth = new Authenticator(); // default cooldown 30 s
        const config = configFor(trust);
        const claims = { iss: provider.issuer, aud: CLIENT_ID };
        assert.equal(
            (await auth.authenticate(config, bearer(await entraToken(k1, claims)), SERVICE)).ok,
            true,
        );
        const discovery = provider.counts.discovery;
        const jwks = provider.counts.jwks;
        const attacker = await providerKey("seed");
        const tokens = await Promise.all(
            Array.from({ length: 40 }, (_, i) =>
                entraToken({ ...attacker, kid: `random-${i}` }, claims),
            ),
        );
        const results = await Promise.all(
            tokens.map((t) => auth.authenticate(config, bearer(t), SERVICE)),
        );
        for (const t of tokens.slice(0, 10)) {
            results.push(await auth.authenticate(config, bearer(t), SERVICE));
        }
        assert.ok(results.every((r) => !r.ok && r.challenge === CHALLENGE_INVALID));
        assert.equal(provider.counts.jwks, jwks, "no JWKS refetch inside the cooldown");
        assert.equal(provider.counts.discovery, discovery, "discovery document cached");
        auth.close();
    });

    test("JWKS server failing: backoff limits fetches; last good keys keep working", async () => {
        const auth = new Authenticator({ oidc: { cacheMaxAgeSeconds: 0, cooldownSeconds: 0 } });
        const config = configFor(trust);
        const token = await entraToken(k1, { iss: provider.issuer, aud: CLIENT_ID });
        assert.equal((await auth.authenticate(config, bearer(token), SERVICE)).ok, true);
        provider.state.jwksStatus = 500;
        const fetchesBefore = provider.counts.jwks;
        for (let i = 0; i < 20; i++) {
            // cacheMaxAge 0 means every request wants a refetch; backoff allows one per 10 s.
            assert.equal((await auth.authenticate(config, bearer(token), SERVICE)).ok, true);
        }
        assert.equal(provider.counts.jwks - fetchesBefore, 1);
        const unknown = await entraToken(k2, { iss: provider.issuer, aud: CLIENT_ID });
        assert.equal((await auth.authenticate(config, bearer(unknown), SERVICE)).ok, false);
        assert.equal(provider.counts.jwks - fetchesBefore, 1);
        auth.close();
    });

    test("discovery naming another issuer is refused (OIDC Discovery §4.3)", async () => {
        provider.state.discoveryIssuer = "https://evil.example/";
        const { logger, reasons } = reasonLogger();
        const auth = new Authenticator({ logger });
        const token = await entraToken(k1, { iss: provider.issuer, aud: CLIENT_ID });
        assert.equal((await auth.authenticate(configFor(trust), bearer(token), SERVICE)).ok, false);
        assert.deepEqual(reasons, ["discovery_issuer_mismatch"]);
        auth.close();
    });

    test("Entra v1 shape: issuer https://sts.windows.net/<tid>/ with an explicit discoveryUrl", async () => {
        // Entra v1 tokens carry iss https://sts.windows.net/<tid>/ while discovery lives at
        // https://login.microsoftonline.com/<tid>/.well-known/openid-configuration.
        const v1Issuer = "https://sts.windows.net/tenant-1/";
        provider.state.discoveryIssuer = v1Issuer;
        const auth = new Authenticator();
        const config = configFor({
            issuer: v1Issuer,
            audience: "api://churn-model",
            discoveryUrl: provider.discoveryUrl,
        });
        const token = await entraToken(k1, { iss: v1Issuer, aud: "api://churn-model" });
        assert.equal((await auth.authenticate(config, bearer(token), SERVICE)).ok, true);
        auth.close();
    });

    test("own signing keys and an OIDC trust side by side", async () => {
        const { generateSigningKey, getToken } = await import("../../router/auth");
        const own = await generateSigningKey();
        const config = tokenAuthConfig({
            service: SERVICE,
            publicKeys: [own.publicJwk],
            oidc: [trust],
        });
        const auth = new Authenticator();
        const minted = await getToken({ service: SERVICE, signingKey: own.privateJwk });
        const entra = await entraToken(k1, { iss: provider.issuer, aud: CLIENT_ID });
        assert.equal(
            (await auth.authenticate(config, bearer(minted.accessToken), SERVICE)).ok,
            true,
        );
        assert.equal((await auth.authenticate(config, bearer(entra), SERVICE)).ok, true);
        auth.close();
    });
});

describe("OIDC fail closed", () => {
    test("discovery server down → 401 (no crash), and no retry inside the backoff", async () => {
        const down = await listen(() => undefined);
        const base = down.base;
        await down.close(); // nothing listens on this port any more
        const key = await providerKey("kid-1");
        const issuer = `${base}/tenant-1/v2.0`;
        const spy = countingFetch();
        const { logger, reasons } = reasonLogger();
        const auth = new Authenticator({ fetch: spy, logger });
        const config = configFor({ issuer, audience: CLIENT_ID });
        const token = await entraToken(key, { iss: issuer, aud: CLIENT_ID });
        for (let i = 0; i < 3; i++) {
            assert.deepEqual(await auth.authenticate(config, bearer(token), SERVICE), {
                ok: false,
                challenge: CHALLENGE_INVALID,
            });
        }
        assert.equal(spy.calls, 1, "one attempt, then backoff");
        assert.deepEqual(
            reasons.filter((r) => r !== "discovery_fetch"),
            ["discovery_unavailable", "discovery_unavailable", "discovery_unavailable"],
        );
        auth.close();
    });

    test("a discovery URL on plain http off loopback is never fetched", async () => {
        const spy = countingFetch();
        const { logger, reasons } = reasonLogger();
        const auth = new Authenticator({ fetch: spy, logger });
        const key = await providerKey("kid-1");
        const issuer = "http://login.example.com/tenant-1/v2.0";
        const token = await entraToken(key, { iss: issuer, aud: CLIENT_ID });
        const config = configFor({ issuer, audience: CLIENT_ID });
        assert.equal((await auth.authenticate(config, bearer(token), SERVICE)).ok, false);
        assert.equal(spy.calls, 0);
        assert.deepEqual(reasons, ["discovery_url_insecure"]);
        auth.close();
    });

    test("close() aborts a hanging discovery fetch: the request is denied, not stuck", async () => {
        const provider = await startProvider();
        provider.state.hangDiscovery = true;
        const key = await providerKey("kid-1");
        const auth = new Authenticator({ oidc: { timeoutMs: 60_000 } });
        const token = await entraToken(key, { iss: provider.issuer, aud: CLIENT_ID });
        const pending = auth.authenticate(
            configFor({ issuer: provider.issuer, audience: CLIENT_ID }),
            bearer(token),
            SERVICE,
        );
        while (provider.counts.discovery === 0) await new Promise((r) => setImmediate(r));
        auth.close();
        assert.deepEqual(await pending, { ok: false, challenge: CHALLENGE_INVALID });
        await provider.close();
    });

    test("tokens from an issuer the service does not trust never trigger a fetch", async () => {
        const spy = countingFetch();
        const { logger, reasons } = reasonLogger();
        const auth = new Authenticator({ fetch: spy, logger });
        const key = await providerKey("kid-1");
        const token = await entraToken(key, { iss: "https://attacker.example/", aud: CLIENT_ID });
        const config = configFor({
            issuer: "https://login.microsoftonline.com/t/v2.0",
            audience: CLIENT_ID,
        });
        assert.equal((await auth.authenticate(config, bearer(token), SERVICE)).ok, false);
        assert.equal(spy.calls, 0);
        assert.deepEqual(reasons, ["unknown_issuer"]);
        auth.close();
    });
});
