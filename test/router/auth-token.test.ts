// Token auth with the service's own signing keys (R37): getToken, verification, JWT attacks,
// signing-key rotation.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createPublicKey, generateKeyPairSync } from "node:crypto";
import {
    base64url,
    calculateJwkThumbprint,
    decodeJwt,
    decodeProtectedHeader,
    importJWK,
    SignJWT,
    type JWK,
} from "jose";
import {
    Authenticator,
    CHALLENGE_INVALID,
    defaultTokenAudience,
    generateSigningKey,
    getToken,
    tokenAuthConfig,
    type SigningKeyPair,
} from "../../router/auth";
import { ValidationError } from "../../components/common/validation";
import type { ServiceAuthConfig } from "../../router/types";
import pino from "pino";

const SERVICE = "churn-model";
const ISSUER = "amlaks://test-cluster";

function bearer(token: string) {
    return { authorization: `Bearer ${token}` };
}

describe("generateSigningKey", () => {
    test("ES256 by default; kid is the RFC 7638 thumbprint; public part has no private members", async () => {
        const k = await generateSigningKey();
        assert.equal(k.publicJwk.kty, "EC");
        assert.equal(k.publicJwk.crv, "P-256");
        assert.equal(k.publicJwk.alg, "ES256");
        assert.equal(k.publicJwk.d, undefined);
        assert.equal(typeof k.privateJwk.d, "string");
        assert.equal(k.kid, await calculateJwkThumbprint(k.publicJwk as JWK, "sha256"));
        assert.equal(k.publicJwk.kid, k.kid);
        assert.equal(k.privateJwk.kid, k.kid);
    });

    test("RS256 on request; unsupported algorithms are refused", async () => {
        const k = await generateSigningKey("RS256");
        assert.equal(k.publicJwk.kty, "RSA");
        assert.equal(k.publicJwk.d, undefined);
        await assert.rejects(generateSigningKey("HS256" as never), ValidationError);
    });
});

describe("getToken", () => {
    test("returns the v1 get_access_token shape with epoch-second times", async () => {
        const k = await generateSigningKey();
        const now = new Date("2030-01-01T00:00:00Z");
        const t = await getToken({
            service: SERVICE,
            signingKey: k.privateJwk,
            issuer: ISSUER,
            now,
        });
        const iat = now.getTime() / 1000;
        assert.deepEqual(Object.keys(t).sort(), [
            "accessToken",
            "expiryOn",
            "refreshAfter",
            "tokenType",
        ]);
        assert.equal(t.tokenType, "Bearer");
        assert.equal(t.expiryOn, iat + 3600);
        assert.equal(t.refreshAfter, iat + 1800);
        const header = decodeProtectedHeader(t.accessToken);
        assert.deepEqual(header, { alg: "ES256", kid: k.kid, typ: "at+jwt" });
        const claims = decodeJwt(t.accessToken);
        assert.equal(claims.iss, ISSUER);
        assert.equal(claims.aud, `amlaks:service:${SERVICE}`);
        assert.equal(claims.svc, SERVICE);
        assert.equal(claims.iat, iat);
        assert.equal(claims.exp, t.expiryOn);
        assert.equal(typeof claims.jti, "string");
    });

    test("custom lifetime and refresh; the minted token verifies", async () => {
        const k = await generateSigningKey();
        const t = await getToken({
            service: SERVICE,
            signingKey: k.privateJwk,
            issuer: ISSUER,
            lifetimeSeconds: 600,
            refreshAfterSeconds: 500,
        });
        assert.equal(t.expiryOn - t.refreshAfter, 100);
        const auth = new Authenticator();
        const config = tokenAuthConfig({
            service: SERVICE,
            publicKeys: [k.publicJwk],
            issuer: ISSUER,
        });
        assert.deepEqual(await auth.authenticate(config, bearer(t.accessToken), SERVICE), {
            ok: true,
        });
        auth.close();
    });

    test("accepts a PKCS#8 PEM RSA key (RS256, kid = thumbprint)", async () => {
        const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
        const pem = privateKey.export({ format: "pem", type: "pkcs8" }) as string;
        const publicJwk = publicKey.export({ format: "jwk" }) as JWK;
        const kid = await calculateJwkThumbprint(publicJwk, "sha256");
        const t = await getToken({ service: SERVICE, signingKey: pem, issuer: ISSUER });
        assert.deepEqual(decodeProtectedHeader(t.accessToken), {
            alg: "RS256",
            kid,
            typ: "at+jwt",
        });
        const auth = new Authenticator();
        const config = tokenAuthConfig({
            service: SERVICE,
            publicKeys: [{ ...publicJwk, kid } as never],
            issuer: ISSUER,
        });
        assert.equal((await auth.authenticate(config, bearer(t.accessToken), SERVICE)).ok, true);
        auth.close();
    });

    test("reports every bad option at once and never echoes key material", async () => {
        const k = await generateSigningKey();
        const err = await getToken({
            service: "",
            signingKey: k.publicJwk,
            lifetimeSeconds: 10 ** 6,
            refreshAfterSeconds: 0,
        }).then(
            () => assert.fail("expected a ValidationError"),
            (e: unknown) => e,
        );
        assert.ok(err instanceof ValidationError);
        assert.deepEqual(err.problems.map((p) => p.field).sort(), [
            "lifetimeSeconds",
            "refreshAfterSeconds",
            "service",
            "signingKey",
        ]);
        assert.equal(err.message.includes(String(k.publicJwk.x)), false);
        const pemErr = await getToken({
            service: SERVICE,
            signingKey: "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ5dGVz\n-----END PRIVATE KEY-----",
        }).catch((e: unknown) => e);
        assert.ok(pemErr instanceof ValidationError);
        assert.equal(pemErr.message.includes("c2VjcmV0LWJ5dGVz"), false);
    });
});

describe("tokenAuthConfig", () => {
    test("reduces private keys to public, applies default issuer and audience", async () => {
        const k = await generateSigningKey();
        const config = tokenAuthConfig({ service: SERVICE, publicKeys: [k.privateJwk] });
        assert.equal(config.mode, "token");
        assert.equal(config.issuer, "amlaks://local");
        assert.equal(config.audience, defaultTokenAudience(SERVICE));
        assert.equal(config.audience, "amlaks:service:churn-model");
        assert.deepEqual(config.signingPublicKeys, [k.publicJwk]);
        assert.equal(config.signingPublicKeys?.[0].d, undefined);
    });

    test("collects every problem: missing kid, duplicate kid, symmetric key, bad alg", async () => {
        const k = await generateSigningKey();
        const { kid: _kid, ...noKid } = k.publicJwk;
        assert.throws(
            () =>
                tokenAuthConfig({
                    service: SERVICE,
                    publicKeys: [
                        k.publicJwk,
                        k.publicJwk,
                        noKid as never,
                        { kty: "oct", k: "c2VjcmV0", kid: "h" },
                        { ...k.publicJwk, kid: "x", alg: "HS256" },
                    ],
                }),
            (e: unknown) => {
                assert.ok(e instanceof ValidationError);
                assert.deepEqual(
                    e.problems.map((p) => p.field),
                    [
                        "publicKeys[1].kid",
                        "publicKeys[2].kid",
                        "publicKeys[3].kty",
                        "publicKeys[4].alg",
                    ],
                );
                return true;
            },
        );
    });
});

describe("token verification and attacks", () => {
    // Reasons are only logged (the client sees one challenge); the tests read them to prove each
    // attack is stopped by the intended check, not by an unrelated earlier failure.
    const reasons: string[] = [];
    const logger = pino(
        { level: "debug" },
        {
            write: (line: string) => void reasons.push(JSON.parse(line).reason),
        },
    );
    const auth = new Authenticator({ clockSkewSeconds: 30, logger });
    let es: SigningKeyPair;
    let rs: SigningKeyPair;
    let config: ServiceAuthConfig;
    let rsConfig: ServiceAuthConfig;
    const now = () => Math.floor(Date.now() / 1000);

    before(async () => {
        es = await generateSigningKey("ES256");
        rs = await generateSigningKey("RS256");
        config = tokenAuthConfig({ service: SERVICE, publicKeys: [es.publicJwk], issuer: ISSUER });
        rsConfig = tokenAuthConfig({
            service: SERVICE,
            publicKeys: [rs.publicJwk],
            issuer: ISSUER,
        });
    });
    after(() => auth.close());

    async function mint(key: SigningKeyPair, extra: Partial<Parameters<typeof getToken>[0]> = {}) {
        return (
            await getToken({
                service: SERVICE,
                signingKey: key.privateJwk,
                issuer: ISSUER,
                ...extra,
            })
        ).accessToken;
    }

    /** Signs arbitrary claims/header with a key, for tokens getToken refuses to make. */
    async function sign(
        key: SigningKeyPair,
        claims: Record<string, unknown>,
        header: Record<string, unknown> = {},
    ) {
        const alg = String(key.privateJwk.alg);
        return new SignJWT(claims)
            .setProtectedHeader({ alg, kid: key.kid, typ: "at+jwt", ...header })
            .sign(await importJWK(key.privateJwk as JWK, alg));
    }

    function base(): Record<string, unknown> {
        return {
            iss: ISSUER,
            aud: `amlaks:service:${SERVICE}`,
            svc: SERVICE,
            iat: now(),
            exp: now() + 600,
        };
    }

    async function assertDenied(
        cfg: ServiceAuthConfig,
        token: string,
        reason: string,
        service = SERVICE,
    ) {
        reasons.length = 0;
        assert.deepEqual(await auth.authenticate(cfg, bearer(token), service), {
            ok: false,
            challenge: CHALLENGE_INVALID,
        });
        assert.deepEqual(reasons, [reason]);
    }

    test("a correct token passes (control for the attacks below)", async () => {
        assert.equal((await auth.authenticate(config, bearer(await mint(es)), SERVICE)).ok, true);
        assert.equal(
            (await auth.authenticate(config, bearer(await sign(es, base())), SERVICE)).ok,
            true,
        );
    });

    test("alg none is rejected", async () => {
        const enc = (o: object) => base64url.encode(JSON.stringify(o));
        const token = `${enc({ alg: "none", kid: es.kid, typ: "at+jwt" })}.${enc(base())}.`;
        await assertDenied(config, token, "alg_not_allowed");
    });

    test("HS256 signed with the RSA public key bytes (HS/RS confusion) is rejected", async () => {
        const pem = createPublicKey({ key: rs.publicJwk as JWK, format: "jwk" })
            .export({ format: "pem", type: "spki" })
            .toString();
        for (const secret of [pem, JSON.stringify(rs.publicJwk)]) {
            const token = await new SignJWT(base())
                .setProtectedHeader({ alg: "HS256", kid: rs.kid, typ: "at+jwt" })
                .sign(new TextEncoder().encode(secret));
            await assertDenied(rsConfig, token, "alg_not_allowed");
        }
    });

    test("expired, nbf in the future, missing exp, iat in the future, too long a lifetime", async () => {
        await assertDenied(
            config,
            await mint(es, { now: new Date(Date.now() - 7200_000) }),
            "ERR_JWT_EXPIRED",
        );
        await assertDenied(
            config,
            await sign(es, { ...base(), exp: now() - 40 }),
            "ERR_JWT_EXPIRED",
        );
        await assertDenied(
            config,
            await sign(es, { ...base(), nbf: now() + 3600 }),
            "ERR_JWT_CLAIM_VALIDATION_FAILED",
        );
        const { exp: _exp, ...noExp } = base();
        await assertDenied(config, await sign(es, noExp), "ERR_JWT_CLAIM_VALIDATION_FAILED");
        const { iat: _iat, ...noIat } = base();
        await assertDenied(config, await sign(es, noIat), "ERR_JWT_CLAIM_VALIDATION_FAILED");
        await assertDenied(
            config,
            await sign(es, { ...base(), iat: now() + 3600, exp: now() + 4000 }),
            "iat_in_future",
        );
        await assertDenied(
            config,
            await sign(es, { ...base(), exp: now() + 10 * 86_400 }),
            "lifetime_too_long",
        );
    });

    test("clock skew: 10 s past exp or nbf 10 s ahead still pass; 40 s does not", async () => {
        const ok = async (claims: Record<string, unknown>) =>
            (await auth.authenticate(config, bearer(await sign(es, claims)), SERVICE)).ok;
        assert.equal(await ok({ ...base(), exp: now() - 10 }), true);
        assert.equal(await ok({ ...base(), nbf: now() + 10 }), true);
        assert.equal(await ok({ ...base(), exp: now() - 40 }), false);
        assert.equal(await ok({ ...base(), nbf: now() + 40 }), false);
    });

    test("wrong aud, wrong iss, wrong typ are rejected", async () => {
        await assertDenied(
            config,
            await mint(es, { audience: "amlaks:service:other" }),
            "ERR_JWT_CLAIM_VALIDATION_FAILED",
        );
        await assertDenied(
            config,
            await mint(es, { issuer: "amlaks://other-cluster" }),
            "unknown_issuer",
        );
        await assertDenied(
            config,
            await sign(es, base(), { typ: "JWT" }),
            "ERR_JWT_CLAIM_VALIDATION_FAILED",
        );
    });

    test("bad signature: another key presenting a listed kid", async () => {
        const other = await generateSigningKey();
        const forged = { ...other, kid: es.kid, privateJwk: { ...other.privateJwk, kid: es.kid } };
        await assertDenied(
            config,
            await sign(forged, base()),
            "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
        );
    });

    test("unknown kid and missing kid are rejected", async () => {
        const other = await generateSigningKey();
        await assertDenied(config, await mint(other), "ERR_JWKS_NO_MATCHING_KEY");
        await assertDenied(config, await sign(es, base(), { kid: undefined }), "no_kid");
    });

    test("tampered payload (svc, exp, aud changed; signature kept) is rejected", async () => {
        const token = await mint(es);
        const [h, , s] = token.split(".");
        for (const change of [
            { svc: "other" },
            { exp: now() + 86_000 },
            { aud: "amlaks:service:other" },
        ]) {
            const payload = base64url.encode(JSON.stringify({ ...decodeJwt(token), ...change }));
            await assertDenied(
                config,
                `${h}.${payload}.${s}`,
                "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
            );
        }
    });

    test("a token for service A does not work on service B", async () => {
        // B shares A's key and issuer, the worst case: aud and svc still bind the token.
        const b = tokenAuthConfig({ service: "svc-b", publicKeys: [es.publicJwk], issuer: ISSUER });
        const forA = await mint(es);
        await assertDenied(b, forA, "ERR_JWT_CLAIM_VALIDATION_FAILED", "svc-b");
        // Even with B's audience forced onto a token for A, the svc claim differs.
        const forcedAud = await mint(es, { audience: "amlaks:service:svc-b" });
        await assertDenied(b, forcedAud, "wrong_service", "svc-b");
        const forB = await getToken({
            service: "svc-b",
            signingKey: es.privateJwk,
            issuer: ISSUER,
        });
        assert.equal((await auth.authenticate(b, bearer(forB.accessToken), "svc-b")).ok, true);
        await assertDenied(config, forB.accessToken, "ERR_JWT_CLAIM_VALIDATION_FAILED");
    });

    test("ES256 header with an RSA key's kid (alg/key mismatch) is rejected", async () => {
        const both = tokenAuthConfig({
            service: SERVICE,
            publicKeys: [rs.publicJwk, es.publicJwk],
            issuer: ISSUER,
        });
        const other = await generateSigningKey("ES256");
        const forged = { ...other, kid: rs.kid };
        await assertDenied(
            both,
            await sign(forged, base(), { kid: rs.kid }),
            "ERR_JWKS_NO_MATCHING_KEY",
        );
    });

    test("signing-key rotation: the previous key stays valid while listed", async () => {
        const k1 = await generateSigningKey();
        const k2 = await generateSigningKey();
        const old = await mint(k1);
        const only1 = tokenAuthConfig({
            service: SERVICE,
            publicKeys: [k1.publicJwk],
            issuer: ISSUER,
        });
        assert.equal((await auth.authenticate(only1, bearer(old), SERVICE)).ok, true);
        // Rotation: new key first, previous kept (for at least the max token lifetime).
        const rotated = tokenAuthConfig({
            service: SERVICE,
            publicKeys: [k2.publicJwk, k1.publicJwk],
            issuer: ISSUER,
        });
        const fresh = await mint(k2);
        assert.equal((await auth.authenticate(rotated, bearer(old), SERVICE)).ok, true);
        assert.equal((await auth.authenticate(rotated, bearer(fresh), SERVICE)).ok, true);
        // Previous key dropped: its tokens stop working at once, new ones keep working.
        const only2 = tokenAuthConfig({
            service: SERVICE,
            publicKeys: [k2.publicJwk],
            issuer: ISSUER,
        });
        await assertDenied(only2, old, "ERR_JWKS_NO_MATCHING_KEY");
        assert.equal((await auth.authenticate(only2, bearer(fresh), SERVICE)).ok, true);
    });

    test("token mode without an issuer configured, or with no keys, denies (fail closed)", async () => {
        const token = await mint(es);
        await assertDenied(
            { mode: "token", signingPublicKeys: [es.publicJwk] },
            token,
            "unknown_issuer",
        );
        await assertDenied(
            { mode: "token", issuer: ISSUER, signingPublicKeys: [] },
            token,
            "unknown_issuer",
        );
    });
});

describe("raw configs", () => {
    test("private members in signingPublicKeys are ignored: the public part verifies", async () => {
        const k = await generateSigningKey();
        const auth = new Authenticator();
        const token = (
            await getToken({ service: SERVICE, signingKey: k.privateJwk, issuer: ISSUER })
        ).accessToken;
        const raw: ServiceAuthConfig = {
            mode: "token",
            issuer: ISSUER,
            signingPublicKeys: [k.privateJwk],
        };
        assert.equal((await auth.authenticate(raw, bearer(token), SERVICE)).ok, true);
        auth.close();
    });
});
