// Key auth (R35/R36) and the auth-mode matrix, over real HTTP on 127.0.0.1.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
    Authenticator,
    CHALLENGE_INVALID,
    CHALLENGE_MISSING,
    constantTimeEqual,
    generateServiceKey,
    generateSigningKey,
    getToken,
    matchesServiceKey,
    parseBearer,
    tokenAuthConfig,
} from "../../router/auth";
import type { ServiceAuthConfig } from "../../router/types";
import { score, startFront } from "./auth-helpers";

describe("constantTimeEqual", () => {
    test("equal strings match, any difference does not", () => {
        assert.equal(constantTimeEqual("abc", "abc"), true);
        assert.equal(constantTimeEqual("abc", "abd"), false);
        assert.equal(constantTimeEqual("abc", "abcd"), false, "prefix is not equal");
        assert.equal(constantTimeEqual("", "a"), false);
        assert.equal(constantTimeEqual("ключ", "ключ"), true, "unicode compared as UTF-8");
        assert.equal(constantTimeEqual("a".repeat(10_000), "a".repeat(10_000)), true);
    });
});

describe("matchesServiceKey (R36)", () => {
    test("primary or secondary matches; unset and empty keys never match", () => {
        const keys = { primaryKey: "p-key", secondaryKey: "s-key" };
        assert.equal(matchesServiceKey(keys, "p-key"), true);
        assert.equal(matchesServiceKey(keys, "s-key"), true);
        assert.equal(matchesServiceKey(keys, "other"), false);
        assert.equal(matchesServiceKey({ primaryKey: "p" }, ""), false);
        assert.equal(matchesServiceKey({ primaryKey: "", secondaryKey: "" }, ""), false);
        assert.equal(matchesServiceKey({}, "anything"), false);
    });

    test("a key accepted before stops matching once the key set changes, also in place", () => {
        const keys = { primaryKey: "p-key", secondaryKey: "s-key" };
        assert.equal(matchesServiceKey(keys, "p-key"), true);
        assert.equal(matchesServiceKey(keys, "p-key"), true); // remembered
        // Rotated by mutating the same object: the old key is refused at once.
        keys.primaryKey = "p-key-2";
        assert.equal(matchesServiceKey(keys, "p-key"), false);
        assert.equal(matchesServiceKey(keys, "p-key-2"), true);
        assert.equal(matchesServiceKey(keys, "s-key"), true);
        keys.secondaryKey = "s-key-2";
        assert.equal(matchesServiceKey(keys, "s-key"), false);
        // A new key set object (how the router rotates) knows nothing of the old one.
        assert.equal(matchesServiceKey({ primaryKey: "p-key-3" }, "p-key-2"), false);
        // A refused credential is never remembered as accepted.
        const other = { primaryKey: "x-key" };
        for (let i = 0; i < 3; i++) assert.equal(matchesServiceKey(other, "y-key"), false);
    });
});

describe("parseBearer", () => {
    test("reads the bearer credential; other schemes count as missing", () => {
        assert.deepEqual(parseBearer("Bearer abc"), { kind: "bearer", credential: "abc" });
        assert.deepEqual(parseBearer("bearer  abc "), { kind: "bearer", credential: "abc" });
        assert.deepEqual(parseBearer(undefined), { kind: "missing" });
        assert.deepEqual(parseBearer("Basic dXNlcjpwYXNz"), { kind: "missing" });
        assert.deepEqual(parseBearer("abc"), { kind: "missing" });
        assert.deepEqual(parseBearer("Bearer"), { kind: "malformed" });
        assert.deepEqual(parseBearer("Bearer a b"), { kind: "malformed" });
        assert.deepEqual(parseBearer(`Bearer ${"x".repeat(20_000)}`), { kind: "malformed" });
    });
});

describe("generateServiceKey", () => {
    test("32 random bytes as base64url, different every call", () => {
        const a = generateServiceKey();
        const b = generateServiceKey();
        assert.match(a, /^[A-Za-z0-9_-]{43}$/);
        assert.equal(Buffer.from(a, "base64url").length, 32);
        assert.notEqual(a, b);
    });
});

describe("auth matrix over HTTP", () => {
    const auth = new Authenticator();
    const configs = new Map<string, ServiceAuthConfig>();
    let front: Awaited<ReturnType<typeof startFront>>;
    let token: string;
    const primary = generateServiceKey();
    const secondary = generateServiceKey();

    before(async () => {
        const signing = await generateSigningKey();
        configs.set("open", { mode: "none" });
        configs.set("keyed", { mode: "key", primaryKey: primary, secondaryKey: secondary });
        configs.set(
            "tokened",
            tokenAuthConfig({ service: "tokened", publicKeys: [signing.publicJwk] }),
        );
        token = (await getToken({ service: "tokened", signingKey: signing.privateJwk }))
            .accessToken;
        front = await startFront(auth, configs);
    });
    after(async () => {
        auth.close();
        await front.close();
    });

    test("mode none accepts every request", async () => {
        for (const header of [undefined, "Basic x", "Bearer nope", `Bearer ${primary}`]) {
            assert.equal((await score(front.base, "open", header)).status, 200);
        }
    });

    test("mode key: primary and secondary pass; missing, other scheme, wrong key are 401", async () => {
        assert.equal((await score(front.base, "keyed", `Bearer ${primary}`)).status, 200);
        assert.equal((await score(front.base, "keyed", `Bearer ${secondary}`)).status, 200);
        assert.equal((await score(front.base, "keyed", `bearer ${primary}`)).status, 200);
        assert.deepEqual(await score(front.base, "keyed"), {
            status: 401,
            challenge: CHALLENGE_MISSING,
        });
        assert.deepEqual(await score(front.base, "keyed", `Basic ${primary}`), {
            status: 401,
            challenge: CHALLENGE_MISSING,
        });
        assert.deepEqual(await score(front.base, "keyed", "Bearer wrong-key"), {
            status: 401,
            challenge: CHALLENGE_INVALID,
        });
        assert.deepEqual(await score(front.base, "keyed", `Bearer ${primary}x`), {
            status: 401,
            challenge: CHALLENGE_INVALID,
        });
        // A valid token is not a key: modes are exclusive as in v1.
        assert.equal((await score(front.base, "keyed", `Bearer ${token}`)).status, 401);
    });

    test("mode token: a minted token passes; keys and junk are 401 with one challenge", async () => {
        assert.equal((await score(front.base, "tokened", `Bearer ${token}`)).status, 200);
        assert.deepEqual(await score(front.base, "tokened"), {
            status: 401,
            challenge: CHALLENGE_MISSING,
        });
        for (const header of [`Bearer ${primary}`, "Bearer a.b.c", `Bearer ${token}x`]) {
            assert.deepEqual(await score(front.base, "tokened", header), {
                status: 401,
                challenge: CHALLENGE_INVALID,
            });
        }
    });

    test("key rotation at run time: the swapped config is used on the next request", async () => {
        const rotated = generateServiceKey();
        // regen_key("Primary"): primary replaced, secondary unchanged.
        configs.set("keyed", { mode: "key", primaryKey: rotated, secondaryKey: secondary });
        assert.equal((await score(front.base, "keyed", `Bearer ${primary}`)).status, 401);
        assert.equal((await score(front.base, "keyed", `Bearer ${rotated}`)).status, 200);
        assert.equal((await score(front.base, "keyed", `Bearer ${secondary}`)).status, 200);
        // Then auth disabled at run time, then token mode: no restart either.
        configs.set("keyed", { mode: "none" });
        assert.equal((await score(front.base, "keyed")).status, 200);
        configs.set("keyed", { mode: "key", primaryKey: primary });
        assert.equal((await score(front.base, "keyed", `Bearer ${rotated}`)).status, 401);
        assert.equal((await score(front.base, "keyed", `Bearer ${primary}`)).status, 200);
    });

    test("a key config with no keys denies everything (fail closed)", async () => {
        configs.set("empty", { mode: "key" });
        assert.equal((await score(front.base, "empty", "Bearer x")).status, 401);
        configs.set("weird", { mode: "other" } as unknown as ServiceAuthConfig);
        assert.equal((await score(front.base, "weird", `Bearer ${primary}`)).status, 401);
    });
});

describe("logging", () => {
    test("denials log a reason code, never the presented key or configured keys", async () => {
        const lines: string[] = [];
        const pino = (await import("pino")).default;
        const logger = pino({ level: "debug" }, { write: (line: string) => void lines.push(line) });
        const auth = new Authenticator({ logger });
        const primaryKey = generateServiceKey();
        const presented = generateServiceKey();
        const result = await auth.authenticate(
            { mode: "key", primaryKey },
            { authorization: `Bearer ${presented}` },
            "svc",
        );
        assert.equal(result.ok, false);
        const text = lines.join("\n");
        assert.match(text, /"reason":"key_mismatch"/);
        assert.equal(text.includes(presented), false);
        assert.equal(text.includes(primaryKey), false);
        auth.close();
    });
});

describe("robustness", () => {
    test("a malformed config (non-string key) denies instead of throwing", async () => {
        const auth = new Authenticator();
        const bad = { mode: "key", primaryKey: 42 } as unknown as ServiceAuthConfig;
        const result = await auth.authenticate(bad, { authorization: "Bearer 42" }, "svc");
        assert.deepEqual(result, { ok: false, challenge: CHALLENGE_INVALID });
        auth.close();
    });
});
