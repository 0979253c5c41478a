/**
 * The URL contract (docs/design.md §5, aml-v1-spec §3/§5): auth before anything reaches a replica
 * (R35/R36), unknown services without a hint of existence, request ids, header forwarding
 * (never the caller's Authorization), swagger passthrough, health, readiness and metrics.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { DEFAULT_SWAGGER, ReplicaServer } from "../support/replica-server";
import { call, definition, eventually, score, startHarness, type Harness } from "./core-harness";

const PRIMARY = "primary-key-0123456789abcdefghijklmn";
const SECONDARY = "secondary-key-0123456789abcdefghijklmn";

let keyed: ReplicaServer;
let open: ReplicaServer;
let h: Harness;

before(async () => {
    keyed = await ReplicaServer.start({ id: "keyed-1" });
    open = await ReplicaServer.start({
        id: "open-1",
        swagger: { swagger: "2.0", info: { title: "open" } },
    });
    h = await startHarness({
        captureLogs: true,
        services: [
            {
                settings: {
                    name: "keyed",
                    authEnabled: true,
                    primaryKey: PRIMARY,
                    secondaryKey: SECONDARY,
                },
                replicas: [keyed.replica],
            },
            {
                settings: {
                    name: "keyed-two",
                    authEnabled: true,
                    primaryKey: "another-primary-key-0123456789abcdefgh",
                },
                replicas: [keyed.replica],
            },
            { settings: { name: "open-svc", authEnabled: false }, replicas: [open.replica] },
        ],
    });
});
after(async () => {
    await h.close();
    await keyed.close();
    await open.close();
});

const bearer = (k: string) => ({ authorization: `Bearer ${k}` });

describe("router core: auth and unknown services", () => {
    test("accepts the primary and the secondary key and never forwards Authorization", async () => {
        for (const key of [PRIMARY, SECONDARY]) {
            const res = await score(h.url, "keyed", { headers: bearer(key) });
            assert.equal(res.status, 200);
        }
        assert.ok(keyed.scored.length >= 2);
        for (const seen of keyed.scored) assert.equal(seen.headers.authorization, undefined);
    });

    test("answers 401 with WWW-Authenticate and no detail, before any replica is involved", async () => {
        const before = keyed.scored.length;
        const missing = await score(h.url, "keyed");
        const wrong = await score(h.url, "keyed", { headers: bearer("nope") });
        for (const res of [missing, wrong]) {
            assert.equal(res.status, 401);
            assert.match(res.headers["www-authenticate"] as string, /^Bearer/);
            assert.deepEqual(JSON.parse(res.body), { message: "Unauthorized" });
        }
        assert.equal(keyed.scored.length, before);
    });

    test("answers an unknown service exactly like a protected one to callers without valid credentials", async () => {
        for (const headers of [{}, bearer("nope"), { authorization: "Basic abc" }]) {
            const known = await score(h.url, "keyed", { headers });
            const unknown = await score(h.url, "no-such-service", { headers });
            assert.equal(unknown.status, 401);
            assert.equal(unknown.status, known.status);
            assert.equal(unknown.body, known.body);
            assert.equal(unknown.headers["www-authenticate"], known.headers["www-authenticate"]);
            assert.deepEqual(
                Object.keys(unknown.headers).sort(),
                Object.keys(known.headers).sort(),
                "same header names",
            );
        }
    });

    test("shows 404 for an unknown service only to a caller with a valid key", async () => {
        const res = await score(h.url, "no-such-service", { headers: bearer(SECONDARY) });
        assert.equal(res.status, 404);
        // A valid key for one service does not open another: still 401 there.
        assert.equal((await score(h.url, "keyed-two", { headers: bearer(SECONDARY) })).status, 401);
        const h2 = await startHarness({
            services: [{ settings: { name: "only-open", authEnabled: false } }],
        });
        try {
            // Nothing is protected on this router, so there is nothing to hide: plain 404.
            assert.equal((await score(h2.url, "no-such-service")).status, 404);
        } finally {
            await h2.close();
        }
    });

    test("takes rotated keys at run time without a restart (R36)", async () => {
        const rotated = "rotated-key-abcdefabcdef0123456789xyz";
        h.router.onService(
            definition({
                name: "keyed",
                authEnabled: true,
                primaryKey: rotated,
                secondaryKey: SECONDARY,
            }),
        );
        try {
            assert.equal((await score(h.url, "keyed", { headers: bearer(PRIMARY) })).status, 401);
            assert.equal((await score(h.url, "keyed", { headers: bearer(rotated) })).status, 200);
        } finally {
            h.router.onService(
                definition({
                    name: "keyed",
                    authEnabled: true,
                    primaryKey: PRIMARY,
                    secondaryKey: SECONDARY,
                }),
            );
        }
    });

    test("forgets a removed service", async () => {
        const r = await ReplicaServer.start({ id: "gone-1" });
        try {
            const def = definition({ name: "gone", authEnabled: false });
            h.router.onService(def);
            h.router.onReplicas("gone", [r.replica]);
            assert.equal((await score(h.url, "gone")).status, 200);
            h.router.onServiceRemoved("gone");
            assert.equal((await score(h.url, "gone", { headers: bearer(PRIMARY) })).status, 404);
            assert.equal((await score(h.url, "gone")).status, 401);
        } finally {
            await r.close();
        }
    });

    test("never logs keys or payloads", async () => {
        await score(h.url, "keyed", {
            headers: bearer(PRIMARY),
            body: '{"data":"secret-payload"}',
            query: "?q=secret-query",
        });
        await eventually(() => h.logs.some((l) => l.msg === "request"));
        const text = JSON.stringify(h.logs);
        assert.ok(!text.includes(PRIMARY) && !text.includes(SECONDARY));
        assert.ok(!text.includes("secret-payload") && !text.includes("secret-query"));
        const line = h.logs.find(
            (l) => l.msg === "request" && l.service === "keyed" && l.status === 200,
        );
        assert.ok(line);
        for (const field of ["requestId", "service", "status", "durationMs", "replica"]) {
            assert.ok(field in line, `access log has ${field}`);
        }
    });
});

describe("router core: request ids and headers", () => {
    test("keeps a caller's x-request-id, forwards it and returns it", async () => {
        const res = await score(h.url, "open-svc", { headers: { "x-request-id": "abc-123" } });
        assert.equal(res.headers["x-request-id"], "abc-123");
        assert.equal(res.headers["x-ms-request-id"], "abc-123");
        assert.equal(JSON.parse(res.body).headers["x-request-id"], "abc-123");
    });

    test("uses x-ms-request-id when x-request-id is absent, and replaces ids over 100 chars", async () => {
        const ms = await score(h.url, "open-svc", { headers: { "x-ms-request-id": "legacy-id" } });
        assert.equal(ms.headers["x-request-id"], "legacy-id");
        const long = await score(h.url, "open-svc", {
            headers: { "x-request-id": "x".repeat(101) },
        });
        const id = long.headers["x-request-id"] as string;
        assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
        assert.equal(JSON.parse(long.body).headers["x-request-id"], id);
        const none = await score(h.url, "open-svc");
        assert.match(none.headers["x-request-id"] as string, /^[0-9a-f-]{36}$/);
    });

    test("forwards method, query string, content type and end-to-end headers, drops hop-by-hop ones", async () => {
        const res = await call(`${h.url}/api/v1/service/open-svc/score?data=%5B1%5D&x=2`, {
            method: "GET",
            headers: {
                "x-custom": "kept",
                "x-secret-hop": "dropped",
                connection: "x-secret-hop",
                "content-type": "application/json",
                "x-ms-client-request-id": "client-1",
            },
        });
        assert.equal(res.status, 200);
        const echo = JSON.parse(res.body);
        assert.equal(echo.method, "GET");
        assert.equal(echo.url, "/score?data=%5B1%5D&x=2");
        assert.equal(echo.headers["x-custom"], "kept");
        assert.equal(echo.headers["x-ms-client-request-id"], "client-1");
        assert.equal(echo.headers["content-type"], "application/json");
        assert.equal(echo.headers["x-secret-hop"], undefined);
        assert.equal(echo.headers["x-forwarded-for"], "127.0.0.1");
        assert.equal(echo.headers["x-forwarded-proto"], "http");
    });

    test("answers 405 to methods other than GET and POST", async () => {
        const res = await call(`${h.url}/api/v1/service/open-svc/score`, {
            method: "PUT",
            body: "{}",
        });
        assert.equal(res.status, 405);
        assert.equal(res.headers.allow, "GET, POST");
    });
});

describe("router core: swagger, health, metrics", () => {
    test("passes swagger.json through from the model server, query included", async () => {
        const res = await call(`${h.url}/api/v1/service/open-svc/swagger.json?version=3`, {
            method: "GET",
        });
        assert.equal(res.status, 200);
        assert.deepEqual(JSON.parse(res.body), { swagger: "2.0", info: { title: "open" } });
        assert.equal(open.seen.at(-1)?.url, "/swagger.json?version=3");
        const keyedRes = await call(`${h.url}/api/v1/service/keyed/swagger.json`, {
            method: "GET",
            headers: bearer(PRIMARY),
        });
        assert.deepEqual(JSON.parse(keyedRes.body), DEFAULT_SWAGGER);
        assert.equal(
            (await call(`${h.url}/api/v1/service/keyed/swagger.json`, { method: "GET" })).status,
            401,
        );
    });

    test("serves liveness and readiness", async () => {
        assert.equal((await call(`${h.url}/healthz`, { method: "GET" })).status, 200);
        assert.equal((await call(`${h.url}/readyz`, { method: "GET" })).status, 200);
        h.router.setReady(false);
        assert.equal((await call(`${h.url}/readyz`, { method: "GET" })).status, 503);
        assert.equal((await call(`${h.url}/healthz`, { method: "GET" })).status, 200);
        h.router.setReady(true);
        assert.equal((await call(`${h.url}/nothing-here`, { method: "GET" })).status, 404);
    });

    test("exposes Prometheus metrics per service", async () => {
        for (let i = 0; i < 3; i++) await score(h.url, "open-svc");
        const res = await call(`${h.url}/metrics`, { method: "GET" });
        assert.equal(res.status, 200);
        assert.match(res.headers["content-type"] as string, /text\/plain/);
        const text = res.body;
        assert.match(text, /amlaks_router_requests_total\{service="open-svc",code="200"\} \d+/);
        assert.match(text, /amlaks_router_requests_total\{service="keyed",code="401"\} \d+/);
        assert.match(text, /amlaks_router_requests_total\{service="\(unknown\)",code="401"\} \d+/);
        assert.match(
            text,
            /amlaks_router_request_duration_seconds_bucket\{le="[^"]+",service="open-svc"\}/,
        );
        assert.match(text, /amlaks_router_queue_wait_seconds_count\{service="open-svc"\} \d+/);
        assert.match(text, /amlaks_router_ready_replicas\{service="open-svc"\} 1/);
        assert.match(text, /amlaks_router_busy_replicas\{service="open-svc"\} 0/);
        assert.match(text, /amlaks_router_in_flight_requests\{service="open-svc"\} 0/);
        assert.match(text, /amlaks_router_queue_length\{service="open-svc"\} 0/);
        assert.doesNotMatch(text, /no-such-service/, "attacker-chosen names never become labels");
    });
});
