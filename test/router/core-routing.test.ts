/**
 * Routing through real HTTP on 127.0.0.1: least-busy choice, concurrency slots
 * (replicaMaxConcurrentRequests), the wait queue (maxRequestWaitTime → 503 + Retry-After),
 * scoringTimeoutMs → 504, zero ready replicas (scale from min), settings changed at run time.
 * docs/design.md §5 "Routing"; aml-v1-spec §1.5 (503/504).
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { ReplicaServer, type ReplicaBehaviour } from "../support/replica-server";
import {
    countersAtZero,
    definition,
    eventually,
    score,
    startHarness,
    type Harness,
} from "./core-harness";

const replicas: ReplicaServer[] = [];
const harnesses: Harness[] = [];
after(async () => {
    await Promise.all(harnesses.map((h) => h.close()));
    await Promise.all(replicas.map((r) => r.close()));
});

async function replica(id: string, behaviour: ReplicaBehaviour = {}): Promise<ReplicaServer> {
    const r = await ReplicaServer.start({ id, behaviour });
    replicas.push(r);
    return r;
}

async function harness(...args: Parameters<typeof startHarness>): Promise<Harness> {
    const h = await startHarness(...args);
    harnesses.push(h);
    return h;
}

describe("router core: routing", () => {
    test("sends each request to the least busy replica", async () => {
        const a = await replica("a", { hold: true });
        const b = await replica("b", { hold: true });
        const h = await harness({
            services: [
                {
                    settings: {
                        name: "least-busy",
                        authEnabled: false,
                        replicaMaxConcurrentRequests: 2,
                        maxRequestWaitTime: 5000,
                    },
                    replicas: [a.replica, b.replica],
                },
            ],
        });
        const first = score(h.url, "least-busy");
        await eventually(() => a.holding + b.holding === 1);
        const second = score(h.url, "least-busy");
        await eventually(() => a.holding + b.holding === 2);
        assert.equal(a.holding, 1, "the second request went to the idle replica");
        assert.equal(b.holding, 1);
        a.release();
        await eventually(() => a.current === 0);
        const third = score(h.url, "least-busy");
        await eventually(() => a.holding === 1);
        assert.equal(
            b.holding,
            1,
            "the third request went to a (0 in flight), not b (1 in flight)",
        );
        a.release();
        b.release();
        const results = await Promise.all([first, second, third]);
        assert.deepEqual(
            results.map((r) => r.status),
            [200, 200, 200],
        );
        assert.equal(JSON.parse(results[2].body).replica, "a");
        await eventually(() => countersAtZero(h.router, "least-busy"), 2000, "counters at zero");
    });

    test("never sends a replica more than replicaMaxConcurrentRequests at once", async () => {
        const r = await replica("slots", { delayMs: 40 });
        const h = await harness({
            services: [
                {
                    settings: {
                        name: "slots",
                        authEnabled: false,
                        replicaMaxConcurrentRequests: 2,
                        maxRequestWaitTime: 10_000,
                    },
                    replicas: [r.replica],
                },
            ],
        });
        const results = await Promise.all(Array.from({ length: 12 }, () => score(h.url, "slots")));
        assert.deepEqual(new Set(results.map((x) => x.status)), new Set([200]));
        assert.equal(r.maxConcurrent, 2);
        assert.equal(r.scored.length, 12);
        assert.ok(countersAtZero(h.router, "slots"));
    });

    test("answers 503 with Retry-After when no slot frees within maxRequestWaitTime", async () => {
        const r = await replica("busy", { hold: true });
        const h = await harness({
            services: [
                {
                    settings: { name: "busy", authEnabled: false, maxRequestWaitTime: 150 },
                    replicas: [r.replica],
                },
            ],
        });
        const first = score(h.url, "busy");
        await eventually(() => r.holding === 1);
        const t0 = Date.now();
        const second = await score(h.url, "busy");
        const waited = Date.now() - t0;
        assert.equal(second.status, 503);
        assert.equal(second.headers["retry-after"], "1");
        assert.ok(waited >= 140, `waited ${waited} ms in the queue before the 503`);
        assert.match(second.headers["x-request-id"] as string, /^[0-9a-f-]{36}$/);
        assert.equal(h.router.load("busy").queued, 0);
        r.release();
        assert.equal((await first).status, 200);
        assert.equal(r.scored.length, 1, "the rejected request never reached the replica");
        await eventually(() => countersAtZero(h.router, "busy"));
    });

    test("answers 503 at once when the queue is full", async () => {
        const r = await replica("full", { hold: true });
        const h = await harness({
            router: { queueLimit: () => 1 },
            services: [
                {
                    settings: { name: "full", authEnabled: false, maxRequestWaitTime: 5000 },
                    replicas: [r.replica],
                },
            ],
        });
        const inFlight = score(h.url, "full");
        await eventually(() => r.holding === 1);
        const queued = score(h.url, "full");
        await eventually(() => h.router.load("full").queued === 1);
        const t0 = Date.now();
        const rejected = await score(h.url, "full");
        assert.equal(rejected.status, 503);
        assert.ok(Date.now() - t0 < 1000, "no wait when the queue is full");
        r.release();
        await eventually(() => r.holding === 1);
        r.release();
        assert.deepEqual([(await inFlight).status, (await queued).status], [200, 200]);
        await eventually(() => countersAtZero(h.router, "full"));
    });

    test("answers 504 after scoringTimeoutMs and aborts the replica request", async () => {
        const r = await replica("slow", { delayMs: 2000 });
        const h = await harness({
            services: [
                {
                    settings: { name: "slow", authEnabled: false, scoringTimeoutMs: 150 },
                    replicas: [r.replica],
                },
            ],
        });
        const res = await score(h.url, "slow");
        assert.equal(res.status, 504);
        assert.equal(JSON.parse(res.body).message.includes("scoringTimeoutMs"), true);
        await r.waitFor(() => r.scored[0]?.aborted === true, 2000, "replica sees the abort");
        assert.ok(countersAtZero(h.router, "slow"));
    });

    test("queues while a service has no ready replica and serves once one appears", async () => {
        const h = await harness({
            services: [
                { settings: { name: "cold", authEnabled: false, maxRequestWaitTime: 3000 } },
            ],
        });
        const pending = score(h.url, "cold");
        await eventually(() => h.router.load("cold").queued === 1);
        assert.equal(h.router.load("cold").readyReplicas, 0);
        const r = await replica("warm");
        h.router.onReplicas("cold", [r.replica]);
        const res = await pending;
        assert.equal(res.status, 200);
        assert.equal(JSON.parse(res.body).replica, "warm");
        assert.ok(countersAtZero(h.router, "cold"));
    });

    test("answers 503 when no replica becomes ready within maxRequestWaitTime", async () => {
        const h = await harness({
            services: [
                { settings: { name: "empty", authEnabled: false, maxRequestWaitTime: 100 } },
            ],
        });
        const res = await score(h.url, "empty");
        assert.equal(res.status, 503);
        assert.equal(res.headers["retry-after"], "1");
        assert.ok(countersAtZero(h.router, "empty"));
    });

    test("applies new settings at run time without a restart", async () => {
        const r = await replica("live", { hold: true });
        const h = await harness({
            services: [
                {
                    settings: { name: "live", authEnabled: false, maxRequestWaitTime: 5000 },
                    replicas: [r.replica],
                },
            ],
        });
        const one = score(h.url, "live");
        const two = score(h.url, "live");
        await eventually(() => r.holding === 1 && h.router.load("live").queued === 1);
        h.router.onService(
            definition({
                name: "live",
                authEnabled: false,
                maxRequestWaitTime: 5000,
                replicaMaxConcurrentRequests: 2,
            }),
        );
        await eventually(() => r.holding === 2, 2000, "the queued request takes the new slot");
        r.release();
        assert.deepEqual([(await one).status, (await two).status], [200, 200]);
    });

    test("passes the model's status and run headers through", async () => {
        const r = await replica("err", { status: 500, runFailed: true, body: { message: "boom" } });
        const h = await harness({
            services: [{ settings: { name: "err", authEnabled: false }, replicas: [r.replica] }],
        });
        const res = await score(h.url, "err");
        assert.equal(res.status, 500);
        assert.equal(res.headers["x-ms-run-function-failed"], "True");
        assert.equal(res.headers["x-ms-run-fn-exec-ms"], "7");
        assert.deepEqual(JSON.parse(res.body), { message: "boom" });
        assert.ok(countersAtZero(h.router, "err"));
    });
});
