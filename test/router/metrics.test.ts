/**
 * Router metrics (issue 12 item 2): /metrics scraped over HTTP after a known sequence of
 * requests; every count exact, names and labels as documented in docs/router.md.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ReplicaServer } from "../support/replica-server";
import { call, eventually, score, startHarness, type Harness } from "./core-harness";

const KEY = "metrics-primary-key-0123456789abcdefgh";

let fast: ReplicaServer;
let held: ReplicaServer;
let big: ReplicaServer;
let h: Harness;

before(async () => {
    fast = await ReplicaServer.start({ id: "fast-0" });
    held = await ReplicaServer.start({ id: "held-0", behaviour: { hold: true } });
    big = await ReplicaServer.start({ id: "big-0", behaviour: { body: { x: "y".repeat(5000) } } });
    h = await startHarness({
        router: { maxBodyBytes: 1000, maxResponseBytes: 2000 },
        services: [
            { settings: { name: "metered", authEnabled: false }, replicas: [fast.replica] },
            {
                settings: { name: "locked", authEnabled: true, primaryKey: KEY },
                replicas: [fast.replica],
            },
            {
                settings: {
                    name: "tight",
                    authEnabled: false,
                    replicaMaxConcurrentRequests: 1,
                    maxRequestWaitTime: 100,
                },
                replicas: [held.replica],
            },
            { settings: { name: "bulky", authEnabled: false }, replicas: [big.replica] },
        ],
    });
});
after(async () => {
    await h.close();
    await fast.close();
    await held.close();
    await big.close();
});

/** `name{labels} value` lines of the scrape, for exact comparison. */
function samples(text: string, name: string): string[] {
    return text
        .split("\n")
        .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
        .sort();
}

describe("router metrics", () => {
    test("count a known sequence of requests exactly", async () => {
        const statuses: number[] = [];
        for (let i = 0; i < 3; i++) statuses.push((await score(h.url, "metered")).status);
        statuses.push(
            (await score(h.url, "locked", { headers: { authorization: "Bearer no" } })).status,
        );
        statuses.push((await score(h.url, "locked")).status);
        statuses.push(
            (await score(h.url, "locked", { headers: { authorization: `Bearer ${KEY}` } })).status,
        );
        // An unknown service while a protected one exists: 401, counted under "(unknown)".
        statuses.push((await score(h.url, "missing")).status);
        // Body limit: announced (Content-Length) and counted against the named service.
        statuses.push((await score(h.url, "metered", { body: "x".repeat(1500) })).status);
        // Answer limit: the replica's answer is above maxResponseBytes.
        statuses.push((await score(h.url, "bulky")).status);
        // Queue timeout: the one slot is held, the second request waits 100 ms and gets 503.
        const first = score(h.url, "tight");
        await held.waitFor(() => held.holding === 1, 5000, "first request held");
        statuses.push((await score(h.url, "tight")).status);
        held.release();
        statuses.push((await first).status);
        assert.deepEqual(statuses, [200, 200, 200, 401, 401, 200, 401, 413, 502, 503, 200]);
        await eventually(() => h.router.load("tight").inFlight === 0);

        const res = await call(`${h.url}/metrics`, { method: "GET" });
        assert.equal(res.status, 200);
        assert.match(res.headers["content-type"] as string, /^text\/plain; version=0\.0\.4/);
        const text = res.body;
        assert.deepEqual(samples(text, "amlaks_router_requests_total"), [
            'amlaks_router_requests_total{service="(unknown)",code="401"} 1',
            'amlaks_router_requests_total{service="bulky",code="502"} 1',
            'amlaks_router_requests_total{service="locked",code="200"} 1',
            'amlaks_router_requests_total{service="locked",code="401"} 2',
            'amlaks_router_requests_total{service="metered",code="200"} 3',
            'amlaks_router_requests_total{service="metered",code="413"} 1',
            'amlaks_router_requests_total{service="tight",code="200"} 1',
            'amlaks_router_requests_total{service="tight",code="503"} 1',
        ]);
        assert.deepEqual(samples(text, "amlaks_router_auth_failures_total"), [
            'amlaks_router_auth_failures_total{service="(unknown)"} 1',
            'amlaks_router_auth_failures_total{service="locked"} 2',
        ]);
        assert.deepEqual(samples(text, "amlaks_router_payload_limit_rejections_total"), [
            'amlaks_router_payload_limit_rejections_total{service="bulky",reason="replica_response_too_large"} 1',
            'amlaks_router_payload_limit_rejections_total{service="metered",reason="body_too_large"} 1',
        ]);
        assert.deepEqual(samples(text, "amlaks_router_rejections_total"), [
            'amlaks_router_rejections_total{service="(unknown)",reason="unauthorized"} 1',
            'amlaks_router_rejections_total{service="bulky",reason="replica_response_too_large"} 1',
            'amlaks_router_rejections_total{service="locked",reason="unauthorized"} 2',
            'amlaks_router_rejections_total{service="metered",reason="body_too_large"} 1',
            'amlaks_router_rejections_total{service="tight",reason="queue_timeout"} 1',
        ]);
        // Histograms: every settled request in the total; queue wait for every slot asked for
        // (the timed-out one included); model time for every request a replica got.
        assert.deepEqual(samples(text, "amlaks_router_request_duration_seconds_count"), [
            'amlaks_router_request_duration_seconds_count{service="(unknown)"} 1',
            'amlaks_router_request_duration_seconds_count{service="bulky"} 1',
            'amlaks_router_request_duration_seconds_count{service="locked"} 3',
            'amlaks_router_request_duration_seconds_count{service="metered"} 4',
            'amlaks_router_request_duration_seconds_count{service="tight"} 2',
        ]);
        assert.deepEqual(samples(text, "amlaks_router_queue_wait_seconds_count"), [
            'amlaks_router_queue_wait_seconds_count{service="bulky"} 1',
            'amlaks_router_queue_wait_seconds_count{service="locked"} 1',
            'amlaks_router_queue_wait_seconds_count{service="metered"} 3',
            'amlaks_router_queue_wait_seconds_count{service="tight"} 2',
        ]);
        assert.deepEqual(samples(text, "amlaks_router_model_duration_seconds_count"), [
            'amlaks_router_model_duration_seconds_count{service="bulky"} 1',
            'amlaks_router_model_duration_seconds_count{service="locked"} 1',
            'amlaks_router_model_duration_seconds_count{service="metered"} 3',
            'amlaks_router_model_duration_seconds_count{service="tight"} 1',
        ]);
        const queued = /^amlaks_router_queue_wait_seconds_sum\{service="tight"\} (\S+)$/m.exec(
            text,
        );
        assert.ok(Number(queued?.[1]) >= 0.09, "the timed-out wait (~100 ms) is in the sum");
        assert.match(
            text,
            /^amlaks_router_request_duration_seconds_bucket\{le="\+Inf",service="metered"\} 4$/m,
        );
    });

    test("compute load gauges at scrape time", async () => {
        const waiting = score(h.url, "tight");
        await held.waitFor(() => held.holding === 1, 5000, "request held");
        const text = (await call(`${h.url}/metrics`, { method: "GET" })).body;
        held.release();
        assert.equal((await waiting).status, 200);
        assert.match(text, /^amlaks_router_in_flight_requests\{service="tight"\} 1$/m);
        assert.match(text, /^amlaks_router_busy_replicas\{service="tight"\} 1$/m);
        assert.match(text, /^amlaks_router_ready_replicas\{service="tight"\} 1$/m);
        assert.match(text, /^amlaks_router_queue_length\{service="tight"\} 0$/m);
        assert.match(text, /^amlaks_router_utilization_ratio\{service="tight"\} 1$/m);
        assert.match(text, /^amlaks_router_utilization_ratio\{service="metered"\} 0$/m);
        for (const name of [
            "amlaks_router_requests_total counter",
            "amlaks_router_request_duration_seconds histogram",
            "amlaks_router_queue_wait_seconds histogram",
            "amlaks_router_model_duration_seconds histogram",
            "amlaks_router_in_flight_requests gauge",
            "amlaks_router_utilization_ratio gauge",
        ]) {
            assert.match(text, new RegExp(`^# TYPE ${name}$`, "m"));
        }
    });
});

describe("router metrics off (ROUTER_METRICS=false)", () => {
    test("serve no /metrics and record nothing per request, while requests are served", async () => {
        const quiet = await startHarness({
            router: { metrics: false },
            services: [
                { settings: { name: "plain", authEnabled: false }, replicas: [fast.replica] },
            ],
        });
        try {
            assert.equal((await score(quiet.url, "plain")).status, 200);
            assert.equal((await score(quiet.url, "nowhere")).status, 404);
            assert.equal((await call(`${quiet.url}/metrics`, { method: "GET" })).status, 404);
            const text = await quiet.router.registry.metrics();
            assert.deepEqual(samples(text, "amlaks_router_requests_total"), []);
            assert.deepEqual(samples(text, "amlaks_router_rejections_total"), []);
        } finally {
            await quiet.close();
        }
    });
});
