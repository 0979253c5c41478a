/**
 * No request is lost (docs/design.md §5): replicas drained and removed under steady load, in-flight
 * requests of a removed replica finish on it, and a router shutdown serves what it queued and
 * what is in flight before closing (bounded by the drain timeout).
 */
import assert from "node:assert/strict";
import * as http from "node:http";
import { after, describe, test } from "node:test";
import { ReplicaServer } from "../support/replica-server";
import {
    call,
    countersAtZero,
    eventually,
    score,
    sleep,
    startHarness,
    type Harness,
} from "./core-harness";

const replicas: ReplicaServer[] = [];
const harnesses: Harness[] = [];
after(async () => {
    await Promise.all(harnesses.map((h) => h.close()));
    await Promise.all(replicas.map((r) => r.close()));
});

async function replica(id: string, delayMs = 0, hold = false): Promise<ReplicaServer> {
    const r = await ReplicaServer.start({ id, behaviour: { delayMs, hold } });
    replicas.push(r);
    return r;
}

describe("router core: drain and shutdown", () => {
    test("loses no request while replicas are drained, removed and added under steady load", async () => {
        const [r1, r2, r3] = await Promise.all([
            replica("d1", 15),
            replica("d2", 15),
            replica("d3", 15),
        ]);
        const h = await startHarness({
            services: [
                {
                    settings: { name: "steady", authEnabled: false, maxRequestWaitTime: 5000 },
                    replicas: [r1.replica, r2.replica, r3.replica],
                },
            ],
        });
        harnesses.push(h);
        const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
        const statuses = new Map<number, number>();
        let running = true;
        const worker = async (): Promise<void> => {
            while (running) {
                let status: number;
                try {
                    status = (await score(h.url, "steady", { agent })).status;
                } catch {
                    status = -1;
                }
                statuses.set(status, (statuses.get(status) ?? 0) + 1);
                done++;
            }
        };
        let done = 0;
        // Progress, not time: each step waits until the load has moved on by `n` requests.
        const progress = async (n: number): Promise<void> => {
            const target = done + n;
            await eventually(() => done >= target, 20_000, `${n} more requests`);
        };
        const workers = Array.from({ length: 6 }, worker);
        const control = h.router;
        await progress(30);

        // Scale-down as the autoscaler does it: pick, drain, then remove and stop.
        const [victim] = control.pickVictims("steady", 1);
        const victimServer = [r1, r2, r3].find((r) => r.id === victim) as ReplicaServer;
        await control.drain("steady", victim, 5000);
        const servedBeforeRemoval = victimServer.scored.length;
        const rest = [r1, r2, r3].filter((r) => r !== victimServer);
        control.onReplicas(
            "steady",
            rest.map((r) => r.replica),
        );
        await victimServer.close();
        await progress(30);
        assert.equal(
            victimServer.scored.length,
            servedBeforeRemoval,
            "a drained replica gets nothing new",
        );

        // Scale-up, then a rolling replacement of another replica.
        const r4 = await replica("d4", 15);
        control.onReplicas(
            "steady",
            [...rest, r4].map((r) => r.replica),
        );
        await progress(30);
        await control.drain("steady", rest[0].id, 5000);
        control.onReplicas(
            "steady",
            [rest[1], r4].map((r) => r.replica),
        );
        await rest[0].close();
        await progress(30);

        running = false;
        await Promise.all(workers);
        agent.destroy();
        const total = [...statuses.values()].reduce((a, b) => a + b, 0);
        assert.deepEqual([...statuses.keys()], [200], `statuses: ${JSON.stringify([...statuses])}`);
        assert.ok(total >= 120, `load ran through every step (${total} requests)`);
        assert.ok(r4.scored.length > 0, "the new replica took traffic");
        await eventually(() => countersAtZero(h.router, "steady"));
    });

    test("lets the in-flight requests of a removed replica finish on it", async () => {
        const old = await replica("old", 0, true);
        const fresh = await replica("fresh");
        const h = await startHarness({
            services: [{ settings: { name: "swap", authEnabled: false }, replicas: [old.replica] }],
        });
        harnesses.push(h);
        const pending = score(h.url, "swap");
        await eventually(() => old.holding === 1);
        h.router.onReplicas("swap", [fresh.replica]);
        assert.equal((await score(h.url, "swap")).status, 200);
        assert.equal(fresh.scored.length, 1);
        old.release();
        const res = await pending;
        assert.equal(res.status, 200);
        assert.equal(JSON.parse(res.body).replica, "old");
        await eventually(() => countersAtZero(h.router, "swap"));
        assert.deepEqual(
            h.router.replicaStates("swap").map((r) => r.id),
            ["fresh"],
        );
    });

    test("on shutdown stops accepting, serves queued and in-flight requests, then closes", async () => {
        const r = await replica("closing", 0, true);
        const h = await startHarness({
            services: [
                {
                    settings: { name: "closing", authEnabled: false, maxRequestWaitTime: 5000 },
                    replicas: [r.replica],
                },
            ],
        });
        const first = score(h.url, "closing");
        const second = score(h.url, "closing");
        await eventually(() => r.holding === 1 && h.router.load("closing").queued === 1);
        let closed = false;
        const closing = h.server.close(5000).then(() => (closed = true));
        await sleep(50);
        assert.equal(closed, false, "waits for the work it holds");
        assert.equal(h.router.ready, false);
        await assert.rejects(call(`${h.url}/healthz`, { method: "GET" }), "no new connections");
        r.release();
        await eventually(() => r.holding === 1);
        r.release();
        assert.deepEqual([(await first).status, (await second).status], [200, 200]);
        await closing;
        assert.equal(closed, true);
    });

    test("on shutdown gives up after the drain timeout: queued requests get 503", async () => {
        const r = await replica("stuck", 0, true);
        const h = await startHarness({
            services: [
                {
                    settings: { name: "stuck", authEnabled: false, maxRequestWaitTime: 10_000 },
                    replicas: [r.replica],
                },
            ],
        });
        const inFlight = score(h.url, "stuck").catch((err: Error) => err);
        const queued = score(h.url, "stuck");
        await eventually(() => r.holding === 1 && h.router.load("stuck").queued === 1);
        const t0 = Date.now();
        await h.server.close(200);
        assert.ok(Date.now() - t0 < 3000);
        const q = await queued;
        assert.equal(q.status, 503);
        assert.equal(q.headers["retry-after"], "1");
        const f = await inFlight;
        assert.ok(f instanceof Error || f.status === 503, "the stuck in-flight request was cut");
        await eventually(() => countersAtZero(h.router, "stuck"));
        r.release();
    });
});
