/**
 * Several router pods, one scaler: the peer load endpoint (metrics listener only), the pure merge
 * of the fleet's load (R31-R33), peer selection from pods, and FleetRouting over real routers
 * that forward to a real (slow) replica, with snapshot expiry on a manual clock.
 */
import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import type * as k8s from "@kubernetes/client-node";
import { ROUTER_PEER_LOAD_PATH } from "../../components/cluster/router-rbac";
import { ManualClock } from "../../router/autoscaler/clock";
import {
    FleetRouting,
    mergeLoad,
    parsePeerLoadReport,
    peerServiceLoad,
    type PeerLoadReport,
} from "../../router/backends/kubernetes/fleet";
import { peersFromPods, staticPeers } from "../../router/backends/kubernetes/peers";
import { silentLogger } from "../../router/log";
import { startRouter, type RunningRouter } from "../../router/main";
import { definition } from "./core-harness";

describe("fleet load: pure merge", () => {
    test("sums in-flight and queued over the fleet; busy = shares of local ready replicas, capped at 1 each", () => {
        const load = mergeLoad(
            {
                readyIds: ["a", "b", "c"],
                // "d" is draining here: its requests count, it is not a ready replica.
                busyById: new Map([
                    ["a", 0.6],
                    ["b", 0],
                    ["c", 0],
                    ["d", 1],
                ]),
                inFlight: 3,
                queued: 1,
            },
            [
                {
                    busyById: new Map([
                        ["a", 0.9],
                        ["b", 1],
                        ["c", 0.2],
                    ]),
                    inFlight: 4,
                    queued: 2,
                },
                undefined, // a peer that does not know the service yet
                // "e" is ready for that peer only: counted in flight, not as a busy replica.
                { busyById: new Map([["e", 1]]), inFlight: 4, queued: 0 },
            ],
        );
        // a: min(1, 1.5) + b: 1 + c: 0.2 = 2.2 → 2 busy replicas.
        assert.deepEqual(load, { readyReplicas: 3, busyReplicas: 2, inFlight: 11, queued: 3 });
    });

    test("without peers it is the local load", () => {
        const load = mergeLoad(
            { readyIds: ["a"], busyById: new Map([["a", 1]]), inFlight: 2, queued: 5 },
            [],
        );
        assert.deepEqual(load, { readyReplicas: 1, busyReplicas: 1, inFlight: 2, queued: 5 });
    });

    test("busy shares come from two reports of the same router; one request hopping over three routers counts once", () => {
        const report = (nowMs: number, busyMs: Record<string, number>, inFlight = 0) => ({
            router: "r",
            nowMs,
            services: {
                svc: {
                    queued: 0,
                    replicas: Object.fromEntries(Object.keys(busyMs).map((k) => [k, inFlight])),
                    busyMs,
                },
            },
        });
        // Busy 300 of the last 1000 ms, though a request is in flight at this very instant.
        const share = peerServiceLoad(report(2000, { a: 700 }, 1), report(1000, { a: 400 }), "svc");
        assert.equal(share?.busyById.get("a"), 0.3);
        // No earlier report: the instant stands in.
        assert.equal(
            peerServiceLoad(report(2000, { a: 700 }, 1), undefined, "svc")?.busyById.get("a"),
            1,
        );
        // One closed-loop client taking turns on three routers keeps replica "a" busy about a third
        // of each router's window: 1 busy replica for the fleet, not 3 (instants would say 3).
        const thirds = [0, 1, 2].map(() =>
            peerServiceLoad(report(2000, { a: 1330 }, 1), report(1000, { a: 1000 }), "svc")!,
        );
        const [local, ...peers] = thirds;
        const load = mergeLoad({ readyIds: ["a", "b"], ...local! }, peers);
        assert.equal(load.busyReplicas, 1);
    });

    test("a peer answer of the wrong shape is refused whole", () => {
        const good = {
            router: "r-1",
            nowMs: 5,
            services: { svc: { queued: 1, replicas: { a: 2 }, busyMs: { a: 10 } } },
        };
        assert.deepEqual(parsePeerLoadReport(good), good);
        const svc = (o: object) => ({ router: "r", nowMs: 1, services: { svc: o } });
        for (const bad of [
            null,
            [],
            { services: {} },
            { router: "r", nowMs: 1, services: [] },
            { router: "r", services: {} },
            svc({ queued: -1, replicas: {}, busyMs: {} }),
            svc({ queued: 0, replicas: { a: "1" }, busyMs: {} }),
            svc({ queued: 0, replicas: { a: Infinity }, busyMs: {} }),
            svc({ queued: 0, replicas: {}, busyMs: { a: -3 } }),
            svc({ queued: 0, replicas: {} }),
            svc({ replicas: {}, busyMs: {} }),
        ]) {
            assert.equal(parsePeerLoadReport(bad), undefined, JSON.stringify(bad));
        }
    });
});

describe("peers from pods", () => {
    const pod = (
        name: string,
        ip: string | undefined,
        ready: boolean,
        deleting = false,
    ): k8s.V1Pod => ({
        metadata: {
            name,
            ...(deleting ? { deletionTimestamp: new Date() } : {}),
        },
        status: {
            ...(ip ? { podIP: ip } : {}),
            conditions: [{ type: "Ready", status: ready ? "True" : "False" }],
        },
    });

    test("Ready pods with an IP, not deleting, not self; reached on the metrics port", () => {
        const peers = peersFromPods(
            [
                pod("router-c", "10.0.0.3", true),
                pod("router-a", "10.0.0.1", true),
                pod("self", "10.0.0.9", true),
                pod("starting", undefined, false),
                pod("not-ready", "10.0.0.4", false),
                pod("leaving", "10.0.0.5", true, true),
                pod("v6", "fd00::7", true),
            ],
            "self",
            9090,
        );
        assert.deepEqual(peers, [
            { name: "router-a", url: "http://10.0.0.1:9090" },
            { name: "router-c", url: "http://10.0.0.3:9090" },
            { name: "v6", url: "http://[fd00::7]:9090" },
        ]);
    });
});

/** A model replica that holds every /score request until `releaseAll()`. */
async function slowReplica(): Promise<{
    url: string;
    held: () => number;
    releaseAll: () => void;
    close: () => Promise<void>;
}> {
    const waiting: http.ServerResponse[] = [];
    const server = http.createServer((req, res) => {
        req.resume();
        req.on("end", () => waiting.push(res));
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    const releaseAll = (): void => {
        for (const res of waiting.splice(0)) res.end('{"ok":true}');
    };
    return {
        url: `http://127.0.0.1:${port}`,
        held: () => waiting.length,
        releaseAll,
        close: async () => {
            releaseAll();
            server.closeAllConnections();
            await new Promise<void>((r) => server.close(() => r()));
        },
    };
}

async function eventually(what: string, fn: () => boolean | Promise<boolean>): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!(await fn())) {
        if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
        await new Promise((r) => setTimeout(r, 20));
    }
}

const SETTINGS = {
    name: "churn",
    authEnabled: false,
    replicaMaxConcurrentRequests: 1,
    maxRequestWaitTime: 10_000,
};

function routerWith(
    replicaUrl: string,
    opts: { metricsPort?: number; routerId?: string },
): Promise<RunningRouter> {
    return startRouter({
        host: "127.0.0.1",
        httpPort: 0,
        ...opts,
        services: [{ definition: definition(SETTINGS), replicas: [{ id: "r0", url: replicaUrl }] }],
        logger: silentLogger(),
        router: { defaultMetrics: false, accessLog: false },
        drainTimeoutMs: 0,
    });
}

/** Sends a score request without waiting for the answer. */
function score(base: string): Promise<number> {
    return fetch(`${base}/api/v1/service/churn/score`, { method: "POST", body: "{}" }).then(
        async (res) => {
            await res.arrayBuffer();
            return res.status;
        },
        () => 0,
    );
}

describe("peer load endpoint and FleetRouting over real routers", () => {
    let replica: Awaited<ReturnType<typeof slowReplica>>;
    let a: RunningRouter;
    let b: RunningRouter;
    let plain: RunningRouter;

    before(async () => {
        replica = await slowReplica();
        a = await routerWith(replica.url, { metricsPort: 0, routerId: "router-a" });
        b = await routerWith(replica.url, { metricsPort: 0, routerId: "router-b" });
        plain = await routerWith(replica.url, {});
    });

    after(async () => {
        replica.releaseAll();
        await Promise.all([a.stop(), b.stop(), plain.stop()]);
        await replica.close();
    });

    test("answers on the metrics listener only, with the router's per-replica counts", async () => {
        const pending = [score(b.httpUrl!), score(b.httpUrl!)];
        // Concurrency 1: one request on the replica, one waiting in b's queue.
        await eventually("one held, one queued", () => replica.held() === 1);
        await eventually("b queued one", () => b.router.load("churn").queued === 1);
        const res = await fetch(`${b.server.metricsUrl}${ROUTER_PEER_LOAD_PATH}`);
        assert.equal(res.status, 200);
        assert.match(res.headers.get("content-type") ?? "", /application\/json/);
        const body = (await res.json()) as PeerLoadReport;
        const busyMs = body.services.churn?.busyMs.r0;
        assert.ok(typeof busyMs === "number" && busyMs >= 0, `busyMs ${busyMs}`);
        assert.ok(Math.abs(body.nowMs - Date.now()) < 5_000, `nowMs ${body.nowMs}`);
        assert.deepEqual(body, {
            router: "router-b",
            nowMs: body.nowMs,
            services: { churn: { queued: 1, replicas: { r0: 1 }, busyMs: { r0: busyMs } } },
        });
        // Never on the public port; not at all without a separate metrics port.
        assert.equal((await fetch(`${b.httpUrl}${ROUTER_PEER_LOAD_PATH}`)).status, 404);
        assert.equal((await fetch(`${plain.httpUrl}${ROUTER_PEER_LOAD_PATH}`)).status, 404);
        replica.releaseAll();
        await eventually("first answered", () => replica.held() === 1);
        replica.releaseAll();
        assert.deepEqual(await Promise.all(pending), [200, 200]);
    });

    test("the scaler's view adds the peers' requests; a dead peer's counts expire", async () => {
        const clock = new ManualClock(0);
        const fleet = new FleetRouting({
            local: a.router,
            peers: staticPeers([
                { name: "router-b", url: b.server.metricsUrl! },
                // An address that answers for router-a itself: never counted twice.
                { name: "stale-address", url: a.server.metricsUrl! },
            ]),
            selfId: "router-a",
            pollMs: 1000,
            clock,
        });
        const idle = { readyReplicas: 1, busyReplicas: 0, inFlight: 0, queued: 0 };
        assert.deepEqual(fleet.load("churn"), idle);

        const pending = [score(b.httpUrl!), score(b.httpUrl!)];
        await eventually("b queued one", () => b.router.load("churn").queued === 1);
        // Router a alone sees nothing: that is the problem the fleet view solves.
        assert.deepEqual(a.router.load("churn"), idle);
        await fleet.pollNow();
        assert.equal(fleet.freshPeers(), 1);
        assert.deepEqual(fleet.load("churn"), {
            readyReplicas: 1,
            busyReplicas: 1,
            inFlight: 1,
            queued: 1,
        });
        // Victims and drains are the local router's.
        assert.deepEqual(fleet.pickVictims("churn", 1), ["r0"]);

        replica.releaseAll();
        await eventually("first answered", () => replica.held() === 1);
        replica.releaseAll();
        await Promise.all(pending);

        // Peer c dies: polls fail, its last snapshot counts until it is expireMs old.
        const c = await routerWith(replica.url, { metricsPort: 0, routerId: "router-c" });
        const withC = new FleetRouting({
            local: a.router,
            peers: staticPeers([{ name: "router-c", url: c.server.metricsUrl! }]),
            pollMs: 1000,
            clock,
        });
        const cut = [score(c.httpUrl!), score(c.httpUrl!)];
        await eventually("c queued one", () => c.router.load("churn").queued === 1);
        await withC.pollNow();
        assert.equal(withC.load("churn").busyReplicas, 1);
        await c.stop();
        await Promise.all(cut);
        await clock.advance(2999);
        await withC.pollNow();
        assert.equal(withC.freshPeers(), 1, "still counted just before expireMs");
        assert.equal(withC.load("churn").queued, 1);
        await clock.advance(1);
        assert.equal(withC.freshPeers(), 0);
        assert.deepEqual(withC.load("churn"), idle);
        replica.releaseAll();
    });
});
