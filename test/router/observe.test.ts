/**
 * Exchange observers (router/observe.ts): one record per finished request with every field
 * filled from what the router measured, bodies only for services an observer asked for, throws
 * caught and counted, observers closed after the drain.
 */
import assert from "node:assert/strict";
import * as http from "node:http";
import { after, before, describe, test } from "node:test";
import type { ExchangeObserver, ExchangeRecord } from "../../router/observe";
import type { ServiceDefinition } from "../../router/types";
import { ReplicaServer } from "../support/replica-server";
import { call, eventually, score, startHarness, type Harness } from "./core-harness";

const KEY = "observed-primary-key-0123456789abcdef";

/** Records everything it is told, in order. */
class RecordingObserver implements ExchangeObserver {
    readonly records: ExchangeRecord[] = [];
    readonly events: string[] = [];
    readonly asked: string[] = [];
    constructor(private readonly payloadServices: ReadonlySet<string>) {}
    wantsPayloads(definition: ServiceDefinition): boolean {
        this.asked.push(definition.name);
        return this.payloadServices.has(definition.name);
    }
    onExchange(record: ExchangeRecord): void {
        this.records.push(record);
        this.events.push(`record:${record.requestId}`);
    }
    async close(): Promise<void> {
        this.events.push("close");
    }
    byId(id: string): ExchangeRecord {
        const found = this.records.filter((r) => r.requestId === id);
        assert.equal(found.length, 1, `exactly one record for ${id}`);
        return found[0];
    }
}

let plain: ReplicaServer;
let slow: ReplicaServer;
let held: ReplicaServer;
let h: Harness;
const rec = new RecordingObserver(new Set(["with-payloads"]));

before(async () => {
    plain = await ReplicaServer.start({ id: "plain-0" });
    slow = await ReplicaServer.start({ id: "slow-0", behaviour: { delayMs: 60 } });
    held = await ReplicaServer.start({ id: "held-0", behaviour: { hold: true } });
    h = await startHarness({
        router: { observers: [rec] },
        services: [
            { settings: { name: "no-payloads", authEnabled: false }, replicas: [plain.replica] },
            { settings: { name: "with-payloads", authEnabled: false }, replicas: [plain.replica] },
            { settings: { name: "slow", authEnabled: false }, replicas: [slow.replica] },
            {
                settings: { name: "held", authEnabled: false, replicaMaxConcurrentRequests: 1 },
                replicas: [held.replica],
            },
            { settings: { name: "keyed", authEnabled: true, primaryKey: KEY }, replicas: [] },
        ],
    });
});
after(async () => {
    await plain.close();
    await slow.close();
    await held.close();
});

describe("exchange observers", () => {
    test("get one record per forwarded request with the exact fields", async () => {
        const body = JSON.stringify({ data: [[1, 2, 3]] });
        const before = Date.now();
        const res = await score(h.url, "no-payloads", {
            body,
            query: "?secret=in-query",
            headers: { "x-request-id": "obs-forwarded-1" },
        });
        assert.equal(res.status, 200);
        await eventually(() => rec.records.some((r) => r.requestId === "obs-forwarded-1"));
        const r = rec.byId("obs-forwarded-1");
        assert.equal(r.service, "no-payloads");
        assert.equal(r.definition?.name, "no-payloads");
        assert.equal(r.method, "POST");
        assert.equal(r.path, "/api/v1/service/no-payloads/score");
        assert.equal(r.status, 200);
        assert.equal(r.reason, undefined);
        assert.equal(r.replica, "plain-0");
        assert.equal(r.attempts, 1);
        assert.equal(r.clientAddress, "127.0.0.1");
        assert.equal(r.requestBytes, Buffer.byteLength(body));
        assert.equal(r.responseBytes, Buffer.byteLength(res.body));
        assert.equal(r.queueMs, 0);
        assert.ok(typeof r.modelMs === "number" && r.modelMs >= 0);
        assert.ok(r.durationMs >= (r.modelMs ?? 0));
        assert.ok(r.startTime >= before - 5 && r.startTime <= Date.now(), "startTime is wall time");
        assert.equal(r.requestBody, undefined);
        assert.equal(r.responseBody, undefined);
        assert.ok(rec.asked.includes("no-payloads"), "wantsPayloads was asked");
    });

    test("carry the request and answer bodies only for services an observer wants them for", async () => {
        const body = JSON.stringify({ data: [[4, 5, 6]] });
        const res = await score(h.url, "with-payloads", {
            body,
            headers: { "x-request-id": "obs-payload-1" },
        });
        assert.equal(res.status, 200);
        await eventually(() => rec.records.some((r) => r.requestId === "obs-payload-1"));
        const r = rec.byId("obs-payload-1");
        assert.equal(r.requestBody?.toString("utf8"), body);
        assert.equal(r.responseBody?.toString("utf8"), res.body);
    });

    test("time the replica's work and the whole request", async () => {
        const res = await score(h.url, "slow", { headers: { "x-request-id": "obs-slow-1" } });
        assert.equal(res.status, 200);
        await eventually(() => rec.records.some((r) => r.requestId === "obs-slow-1"));
        const r = rec.byId("obs-slow-1");
        assert.ok((r.modelMs ?? 0) >= 50, `modelMs ${r.modelMs} covers the replica's 60 ms`);
        assert.ok(r.durationMs >= (r.modelMs ?? 0));
    });

    test("see requests the router answers itself, with the reason and no replica", async () => {
        const res = await score(h.url, "keyed", {
            headers: { "x-request-id": "obs-401-1", authorization: "Bearer wrong" },
        });
        assert.equal(res.status, 401);
        await eventually(() => rec.records.some((r) => r.requestId === "obs-401-1"));
        const r = rec.byId("obs-401-1");
        assert.equal(r.service, "keyed");
        assert.equal(r.status, 401);
        assert.equal(r.reason, "unauthorized");
        assert.equal(r.replica, undefined);
        assert.equal(r.queueMs, undefined);
        assert.equal(r.modelMs, undefined);
        assert.equal(r.responseBytes, Buffer.byteLength(res.body));
        assert.equal(r.requestBody, undefined);

        const unknown = await call(`${h.url}/api/v1/service/nope/predict`, {
            headers: { "x-request-id": "obs-404-1" },
        });
        assert.equal(unknown.status, 404);
        await eventually(() => rec.records.some((r) => r.requestId === "obs-404-1"));
        const u = rec.byId("obs-404-1");
        assert.equal(u.service, "(unknown)");
        assert.equal(u.definition, undefined);
        assert.equal(u.reason, "no_route");
    });

    test("see a client that closed first as 499 on the replica it waited for", async () => {
        const req = http.request(`${h.url}/api/v1/service/held/score`, {
            method: "POST",
            agent: false,
            headers: { "x-request-id": "obs-499-1", "content-type": "application/json" },
        });
        req.on("error", () => undefined);
        req.end("{}");
        await held.waitFor(() => held.holding === 1, 5000, "request held");
        req.destroy();
        await eventually(() => rec.records.some((r) => r.requestId === "obs-499-1"));
        const r = rec.byId("obs-499-1");
        assert.equal(r.status, 499);
        assert.equal(r.reason, "client_closed");
        assert.equal(r.replica, "held-0");
        assert.equal(r.responseBytes, 0);
        held.release();
    });

    test("are closed once, after the drain and after the last record", async () => {
        const before = rec.records.length;
        const res = await score(h.url, "no-payloads", { headers: { "x-request-id": "obs-last" } });
        assert.equal(res.status, 200);
        await h.close();
        assert.equal(rec.events.filter((e) => e === "close").length, 1);
        assert.equal(rec.events.at(-1), "close");
        assert.equal(rec.events.at(-2), "record:obs-last");
        assert.equal(rec.records.length, before + 1);
    });
});

describe("exchange observers that throw", () => {
    test("are counted, never fail the request, and do not stop the other observers", async () => {
        const replica = await ReplicaServer.start({ id: "r-0" });
        const good = new RecordingObserver(new Set());
        const bad: ExchangeObserver = {
            wantsPayloads() {
                throw new Error("broken wantsPayloads");
            },
            onExchange() {
                throw new Error("broken onExchange");
            },
            close() {
                return Promise.reject(new Error("broken close"));
            },
        };
        const t = await startHarness({
            router: { observers: [bad, good] },
            services: [
                { settings: { name: "svc", authEnabled: false }, replicas: [replica.replica] },
            ],
        });
        try {
            for (let i = 0; i < 3; i++) assert.equal((await score(t.url, "svc")).status, 200);
            await eventually(() => good.records.length === 3);
            const text = await t.router.registry.metrics();
            // Per request: wantsPayloads and onExchange threw.
            assert.match(text, /^amlaks_router_observer_errors_total 6$/m);
        } finally {
            await t.close();
            await replica.close();
        }
        assert.deepEqual(good.events.slice(-1), ["close"]);
        const text = await t.router.registry.metrics();
        assert.match(text, /^amlaks_router_observer_errors_total 7$/m, "the failed close counts");
    });
});
