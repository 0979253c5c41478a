// Several router pods against a real API server (docs/design.md §5, R21, R29-R34): the scaler Lease
// (exactly one leader; a released Lease changes hands at the next poll; a silent leader's Lease
// only after its duration; a leader cut off from the API steps down before anyone else leads),
// peer discovery from router pods, and two routers sharing one autoscaler that sees both
// routers' requests, and `ROUTER_BACKEND=kubernetes` wired from the environment. Everything runs
// as a ServiceAccount holding only the router's Roles (ROUTER_RBAC), so the code stays within
// those rights.
import { after, afterEach, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { join } from "node:path";
import {
    copyRules,
    ROUTER_LEASE_NAME,
    ROUTER_PEER_LOAD_PATH,
    ROUTER_POD_LABELS,
    ROUTER_RBAC,
} from "../../components/cluster/router-rbac";
import {
    kubernetesLeaseStore,
    LeaseElector,
    type LeaseStore,
} from "../../router/backends/kubernetes/lease";
import { KubernetesPeerSource, type Peer } from "../../router/backends/kubernetes/peers";
import { fleetScaler, type FleetScalerExtension } from "../../router/backends/kubernetes/scaler";
import { silentLogger } from "../../router/log";
import { optionsFromEnv, startRouter, type RunningRouter } from "../../router/main";
import type { Backend, BackendListener } from "../../router/types";
import { definition } from "../router/core-harness";
import { ReplicaServer } from "../support/replica-server";
import { type E2e, eventually, MODEL_IMAGE, setupE2e } from "./support";

const NS = "azureml";
const SA = "amlaks-router";
const SERVICES_NS = "azureml-services";

let e2e: E2e;
let core: k8s.CoreV1Api;
let routerKc: k8s.KubeConfig;
let routerToken: string;
const electors: LeaseElector[] = [];

/** A kubeconfig for a ServiceAccount bound to exactly the router's own-namespace Role. */
async function routerKubeConfig(): Promise<k8s.KubeConfig> {
    const rbac = e2e.kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    await core.createNamespacedServiceAccount({ namespace: NS, body: { metadata: { name: SA } } });
    await rbac.createNamespacedRole({
        namespace: NS,
        body: { metadata: { name: SA }, rules: copyRules(ROUTER_RBAC.routerNamespaceRules) },
    });
    await rbac.createNamespacedRoleBinding({
        namespace: NS,
        body: {
            metadata: { name: SA },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: SA },
            subjects: [{ kind: "ServiceAccount", name: SA, namespace: NS }],
        },
    });
    // The Kubernetes backend's rights where model services live (the wiring test below).
    await core.createNamespace({ body: { metadata: { name: SERVICES_NS } } });
    await rbac.createNamespacedRole({
        namespace: SERVICES_NS,
        body: { metadata: { name: SA }, rules: copyRules(ROUTER_RBAC.serviceNamespaceRules) },
    });
    await rbac.createNamespacedRoleBinding({
        namespace: SERVICES_NS,
        body: {
            metadata: { name: SA },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: SA },
            subjects: [{ kind: "ServiceAccount", name: SA, namespace: NS }],
        },
    });
    const tr = await core.createNamespacedServiceAccountToken({
        name: SA,
        namespace: NS,
        body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
    const cluster = e2e.kc.getCurrentCluster()!;
    routerToken = tr.status!.token!;
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({
        clusters: [{ name: "e2e", server: cluster.server, caData: cluster.caData }],
        users: [{ name: SA, token: tr.status!.token }],
        contexts: [{ name: SA, cluster: "e2e", user: SA }],
        currentContext: SA,
    });
    return kc;
}

/** Timestamped leadership events, in the order they happened across electors. */
interface Events {
    readonly log: Array<{ at: number; who: string; what: "started" | "stopped" }>;
    first(who: string, what: "started" | "stopped"): number | undefined;
}

function events(): Events {
    const log: Events["log"] = [];
    return {
        log,
        first: (who, what) => log.find((e) => e.who === who && e.what === what)?.at,
    };
}

/** A store that can be cut off from the API (a network partition of one pod). */
function cuttable(store: LeaseStore): LeaseStore & { cut: boolean } {
    const s = {
        cut: false,
        get: () => (s.cut ? Promise.reject(new Error("partitioned")) : store.get()),
        create: (l: k8s.V1Lease) =>
            s.cut ? Promise.reject(new Error("partitioned")) : store.create(l),
        replace: (l: k8s.V1Lease) =>
            s.cut ? Promise.reject(new Error("partitioned")) : store.replace(l),
    };
    return s;
}

function candidate(
    who: string,
    ev: Events,
    opts: { leaseDurationMs: number; retryPeriodMs?: number; store?: LeaseStore },
): LeaseElector {
    const store = opts.store ?? kubernetesLeaseStore({ kubeConfig: routerKc, namespace: NS });
    const e = new LeaseElector({
        store: Object.assign(store, { namespace: NS, name: ROUTER_LEASE_NAME }),
        identity: who,
        leaseDurationMs: opts.leaseDurationMs,
        retryPeriodMs: opts.retryPeriodMs,
        onStartedLeading: () => void ev.log.push({ at: Date.now(), who, what: "started" }),
        onStoppedLeading: () => void ev.log.push({ at: Date.now(), who, what: "stopped" }),
    });
    electors.push(e);
    e.start();
    return e;
}

async function readLease(): Promise<k8s.V1Lease> {
    const api = e2e.kc.makeApiClient(k8s.CoordinationV1Api);
    return api.readNamespacedLease({ name: ROUTER_LEASE_NAME, namespace: NS });
}

/** Every test starts without a Lease (the router's Role cannot delete it; the admin can). */
async function deleteLease(): Promise<void> {
    const api = e2e.kc.makeApiClient(k8s.CoordinationV1Api);
    await api
        .deleteNamespacedLease({ name: ROUTER_LEASE_NAME, namespace: NS })
        .catch((err: { code?: number }) => {
            if (err.code !== 404) throw err;
        });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

before(async () => {
    e2e = await setupE2e("router-lease", { pulumi: false });
    core = e2e.kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: NS } } });
    routerKc = await routerKubeConfig();
});

after(async () => {
    for (const e of electors) await e.stop({ release: false });
    await e2e?.cleanup();
});

describe("scaler Lease", () => {
    beforeEach(deleteLease);
    afterEach(async () => {
        for (const e of electors.splice(0)) await e.stop({ release: false });
    });

    test("two candidates: exactly one leads, and it is the Lease holder", async () => {
        const ev = events();
        const a = candidate("router-a", ev, { leaseDurationMs: 3000 });
        const b = candidate("router-b", ev, { leaseDurationMs: 3000 });
        await eventually("a leader", 10_000, async () =>
            a.isLeader || b.isLeader ? true : undefined,
        );
        const leader = a.isLeader ? "router-a" : "router-b";
        // Over two lease durations of renewals, the leadership never moves or doubles.
        const until = Date.now() + 6000;
        while (Date.now() < until) {
            assert.equal(Number(a.isLeader) + Number(b.isLeader), 1);
            await sleep(50);
        }
        assert.equal(a.isLeader ? "router-a" : "router-b", leader);
        const lease = await readLease();
        assert.equal(lease.spec?.holderIdentity, leader);
        assert.equal(lease.spec?.leaseDurationSeconds, 3);
        assert.deepEqual(
            ev.log.map((e) => `${e.who}:${e.what}`),
            [`${leader}:started`],
        );
    });

    test("stopping the leader releases the Lease: the other leads at its next poll", async () => {
        const ev = events();
        // A silent leader would keep this Lease for 6 s; candidates poll every 0.5 s.
        const opts = { leaseDurationMs: 6000, retryPeriodMs: 500 };
        const a = candidate("router-a", ev, opts);
        await eventually("a leads", 10_000, async () => (a.isLeader ? true : undefined));
        const b = candidate("router-b", ev, opts);
        await sleep(1000); // b has seen a's Lease
        assert.equal(b.isLeader, false);
        const stoppedAt = Date.now();
        await a.stop();
        assert.equal((await readLease()).spec?.holderIdentity, undefined, "holder cleared");
        await eventually("b leads", 10_000, async () => (b.isLeader ? true : undefined));
        const handover = ev.first("router-b", "started")! - stoppedAt;
        assert.ok(handover < 2500, `handover took ${handover} ms`);
        // a's term ended (its onStoppedLeading awaited) before the Lease was released.
        assert.ok(ev.first("router-a", "stopped")! <= ev.first("router-b", "started")!);
        const lease = await readLease();
        assert.equal(lease.spec?.holderIdentity, "router-b");
        assert.equal(lease.spec?.leaseTransitions, 1);
    });

    test("a leader that stops renewing without release: the other leads only after the duration", async () => {
        const ev = events();
        const a = candidate("router-a", ev, { leaseDurationMs: 3000 });
        await eventually("a leads", 10_000, async () => (a.isLeader ? true : undefined));
        const b = candidate("router-b", ev, { leaseDurationMs: 3000 });
        await sleep(500);
        await a.stop({ release: false });
        // The last renewal a wrote (same machine, same wall clock as the events).
        const renewTime = await readLease().then((l) => new Date(l.spec!.renewTime!).getTime());
        assert.equal((await readLease()).spec?.holderIdentity, "router-a");
        await eventually("b leads", 15_000, async () => (b.isLeader ? true : undefined));
        const after = ev.first("router-b", "started")! - renewTime;
        assert.ok(after >= 3000 - 5, `took over ${after} ms after a's last renewal`);
        assert.ok(after < 3000 + 1100 + 1500, `took over ${after} ms after a's last renewal`);
    });

    test("a leader cut off from the API steps down before anyone else may lead", async () => {
        const ev = events();
        const store = cuttable(kubernetesLeaseStore({ kubeConfig: routerKc, namespace: NS }));
        const a = candidate("router-a", ev, { leaseDurationMs: 3000, store });
        await eventually("a leads", 10_000, async () => (a.isLeader ? true : undefined));
        const b = candidate("router-b", ev, { leaseDurationMs: 3000 });
        await sleep(500);
        store.cut = true;
        let both = false;
        const watchUntil = Date.now() + 6000;
        while (Date.now() < watchUntil && !b.isLeader) {
            both ||= a.isLeader && b.isLeader;
            await sleep(10);
        }
        assert.equal(b.isLeader, true, "b took over");
        assert.equal(a.isLeader, false);
        assert.equal(both, false, "never two leaders");
        // The renew deadline (2/3 of the duration) passed before b's expiry (the full duration).
        assert.ok(ev.first("router-a", "stopped")! < ev.first("router-b", "started")!);
        store.cut = false;
    });
});

describe("peer discovery", () => {
    test("Ready router pods of the namespace, without self, gone once deleted", async () => {
        const pod = (name: string, labels: Record<string, string>): k8s.V1Pod => ({
            metadata: { name, labels },
            spec: { containers: [{ name: "router", image: MODEL_IMAGE }] },
        });
        for (const name of ["router-0", "router-1", "router-2"]) {
            await core.createNamespacedPod({
                namespace: NS,
                body: pod(name, { ...ROUTER_POD_LABELS }),
            });
        }
        await core.createNamespacedPod({ namespace: NS, body: pod("model-0", { app: "model" }) });
        const source = new KubernetesPeerSource({
            kubeConfig: routerKc,
            namespace: NS,
            selfName: "router-0",
            port: 9090,
        });
        await source.start();
        try {
            const expected = async (names: string[]): Promise<Peer[]> => {
                const out: Peer[] = [];
                for (const name of names) {
                    const p = await core.readNamespacedPod({ name, namespace: NS });
                    out.push({ name, url: `http://${p.status!.podIP!}:9090` });
                }
                return out;
            };
            await eventually("two peers", 60_000, async () => {
                const want = await expected(["router-1", "router-2"]).catch(() => undefined);
                return want && JSON.stringify(source.peers()) === JSON.stringify(want)
                    ? true
                    : undefined;
            });
            await core.deleteNamespacedPod({ name: "router-2", namespace: NS });
            await eventually("one peer", 60_000, async () => {
                const want = await expected(["router-1"]);
                return JSON.stringify(source.peers()) === JSON.stringify(want) ? true : undefined;
            });
        } finally {
            await source.stop();
        }
    });
});

/** Records what the scaler asked for; serves one fixed replica. */
class RecordingBackend implements Backend {
    readonly kind = "kubernetes" as const;
    readonly scaled: number[] = [];
    private count = 1;

    constructor(private readonly replicaUrl: string) {}

    start(listener: BackendListener): Promise<void> {
        const def = definition({
            name: "churn",
            authEnabled: false,
            autoscaleEnabled: true,
            autoscaleMinReplicas: 1,
            autoscaleMaxReplicas: 3,
            autoscaleRefreshSeconds: 1,
            replicaMaxConcurrentRequests: 1,
            maxRequestWaitTime: 30_000,
        });
        listener.onService(def);
        listener.onReplicas("churn", [{ id: "r0", url: this.replicaUrl }]);
        return Promise.resolve();
    }

    currentReplicas(): number {
        return this.count;
    }

    scaleTo(_service: string, count: number): Promise<void> {
        this.scaled.push(count);
        this.count = count;
        return Promise.resolve();
    }

    stop(): Promise<void> {
        return Promise.resolve();
    }
}

describe("two routers, one scaler", () => {
    test("the scaler scales for the follower's requests; the other takes over on stop", async () => {
        await deleteLease();
        const replica = await ReplicaServer.start({ behaviour: { hold: true } });
        const peerLists: Record<string, Peer[]> = { "router-a": [], "router-b": [] };
        const exts: Record<string, FleetScalerExtension> = {};
        const backends: Record<string, RecordingBackend> = {};
        const routers: Record<string, RunningRouter> = {};
        for (const id of ["router-a", "router-b"]) {
            backends[id] = new RecordingBackend(replica.url);
            const factory = fleetScaler({
                lease: Object.assign(
                    kubernetesLeaseStore({ kubeConfig: routerKc, namespace: NS }),
                    {
                        namespace: NS,
                        name: ROUTER_LEASE_NAME,
                    },
                ),
                identity: id,
                peers: { peers: () => peerLists[id] },
                leaseDurationMs: 3000,
                pollMs: 200,
            });
            routers[id] = await startRouter({
                host: "127.0.0.1",
                httpPort: 0,
                metricsPort: 0,
                routerId: id,
                backend: backends[id],
                extensions: [
                    (ctx) => {
                        const ext = factory(ctx) as FleetScalerExtension;
                        exts[id] = ext;
                        return ext;
                    },
                ],
                logger: silentLogger(),
                router: { defaultMetrics: false, accessLog: false },
                drainTimeoutMs: 0,
            });
        }
        peerLists["router-a"] = [{ name: "router-b", url: routers["router-b"].server.metricsUrl! }];
        peerLists["router-b"] = [{ name: "router-a", url: routers["router-a"].server.metricsUrl! }];
        const metric = async (id: string, name: string): Promise<number> => {
            const text = await routers[id].router.registry.metrics();
            const m = new RegExp(`^${name} (\\d+)$`, "m").exec(text);
            return m ? Number(m[1]) : NaN;
        };
        try {
            const leader = await eventually("a scaler", 10_000, async () =>
                exts["router-a"].leading
                    ? "router-a"
                    : exts["router-b"].leading
                      ? "router-b"
                      : undefined,
            );
            const follower = leader === "router-a" ? "router-b" : "router-a";
            assert.equal(await metric(leader, "amlaks_router_scaler_leader"), 1);
            assert.equal(await metric(follower, "amlaks_router_scaler_leader"), 0);

            // Two requests through the follower only: one on the replica, one queued there.
            const url = `${routers[follower].httpUrl}/api/v1/service/churn/score`;
            const pending = [1, 2].map(() =>
                fetch(url, { method: "POST", body: "{}" }).then(
                    (r) => r.status,
                    () => 0,
                ),
            );
            // utilization (1 busy + 1 queued) / 1 ready = 2 → ceil(2 / 0.7) = 3 replicas (a tick
            // between the two arrivals may first ask for 2).
            await eventually("scaled to 3 for the follower's load", 10_000, async () =>
                backends[leader].scaled.at(-1) === 3 ? true : undefined,
            );
            assert.ok(backends[leader].scaled.every((n) => n === 2 || n === 3));
            assert.deepEqual(backends[follower].scaled, [], "a follower never scales");
            assert.equal(await metric(leader, "amlaks_router_peers"), 1);
            replica.release();
            await replica.waitFor(() => replica.holding === 1);
            replica.release();
            assert.deepEqual(await Promise.all(pending), [200, 200]);

            await routers[leader].stop();
            await eventually("the other scales", 10_000, async () =>
                exts[follower].leading ? true : undefined,
            );
            assert.equal(await metric(follower, "amlaks_router_scaler_leader"), 1);
            assert.equal(await metric(leader, "amlaks_router_scaler_leader"), 0);
        } finally {
            replica.release();
            for (const r of Object.values(routers)) await r.stop();
            await replica.close();
        }
    });
});

describe("ROUTER_BACKEND=kubernetes from the environment", () => {
    test("the router pod watches its namespaces, takes the scaler Lease and serves its peers", async () => {
        await deleteLease();
        const cluster = e2e.kc.getCurrentCluster()!;
        const kubeconfig = join(e2e.dir, "router-kubeconfig.yaml");
        writeFileSync(
            kubeconfig,
            JSON.stringify({
                apiVersion: "v1",
                kind: "Config",
                clusters: [
                    {
                        name: "e2e",
                        cluster: {
                            server: cluster.server,
                            "certificate-authority-data": cluster.caData,
                        },
                    },
                ],
                users: [{ name: SA, user: { token: routerToken } }],
                contexts: [{ name: SA, context: { cluster: "e2e", user: SA } }],
                "current-context": SA,
            }),
        );
        const metricsPort = await freePort();
        const running = await startRouter({
            ...optionsFromEnv({
                ROUTER_BACKEND: "kubernetes",
                ROUTER_NAMESPACE: NS,
                ROUTER_POD_NAME: "router-main",
                ROUTER_WATCH_NAMESPACES: SERVICES_NS,
                ROUTER_LEASE_DURATION_MS: "3000",
                ROUTER_HOST: "127.0.0.1",
                ROUTER_HTTP_PORT: "0",
                ROUTER_METRICS_PORT: String(metricsPort),
                KUBECONFIG: kubeconfig,
            }),
            logger: silentLogger(),
        });
        try {
            assert.equal(running.backend?.kind, "kubernetes");
            await eventually("router-main holds the Lease", 10_000, async () =>
                (await readLease()).spec?.holderIdentity === "router-main" ? true : undefined,
            );
            const metrics = await eventually("scaler metrics", 10_000, async () => {
                const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
                return /^amlaks_router_scaler_leader 1$/m.test(text) ? text : undefined;
            });
            assert.match(metrics, /^amlaks_router_peers 0$/m);
            const peerLoad = await fetch(`http://127.0.0.1:${metricsPort}${ROUTER_PEER_LOAD_PATH}`);
            const report = (await peerLoad.json()) as { nowMs: number };
            assert.equal(typeof report.nowMs, "number");
            assert.deepEqual(report, { router: "router-main", nowMs: report.nowMs, services: {} });
            const publicRes = await fetch(`${running.httpUrl}${ROUTER_PEER_LOAD_PATH}`);
            assert.equal(publicRes.status, 404);
        } finally {
            await running.stop();
        }
        assert.equal((await readLease()).spec?.holderIdentity, undefined, "released on stop");
    });
});

function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const srv = createServer();
        srv.once("error", reject);
        srv.listen(0, "127.0.0.1", () => {
            const port = (srv.address() as AddressInfo).port;
            srv.close(() => resolve(port));
        });
    });
}
