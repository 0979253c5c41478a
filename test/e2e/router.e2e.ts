/**
 * The router on Kubernetes, end to end (issue 9; R18, R20–R21, R29–R33, R35–R36): `pulumi up` of a
 * FastProd cluster (three router pods) and one autoscaled web service onto the real control plane;
 * the test kubelet runs the router pods as real router processes (the same bundle the router image
 * runs, with the router's own ServiceAccount token) and the model pods as the model harness, each
 * at its pod IP. Then load and faults through the routers: scale out through the scale
 * subresource and back in after the window, a pod terminating mid-load, a key rotation by
 * `pulumi up`, the scaler's leader killed, the API server restarted — each with zero failed
 * requests — and `pulumi preview` changing nothing afterwards.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { Agent, request as undiciRequest } from "undici";
import { ROUTER_LEASE_NAME } from "../../components/cluster/router-rbac";
import { startKubelet, type Kubelet } from "./cluster/kubelet";
import { Stack } from "./pulumi/stack";
import { type E2e, eventually, MODEL_IMAGE, newKey, REPO, ROUTER_IMAGE, setupE2e } from "./support";

const PROGRAM = join(REPO, "test", "e2e", "programs", "router");
const ROUTER_BUNDLE = join(REPO, "dist", "router-image", "router.js");
const ROUTER_NS = "azureml";
const SERVICE_NS = "azureml-services";
const SERVICE = "diabetes";
const ROW = [0.0381, 0.0507, 0.0617, 0.0219, -0.0442, -0.0348, -0.0434, -0.0026, 0.0199, -0.0176];
const PREDICTION = 182.68082262676546;

let e2e: E2e;
let kubelet: Kubelet;
let stack: Stack;
let apps: k8s.AppsV1Api;
let core: k8s.CoreV1Api;
// One connection pool for the test's clients, destroyed at the end: idle keep-alive sockets to
// router pods that are gone would otherwise hold the process open.
const agent = new Agent({ keepAliveTimeout: 1_000 });
const request = (url: string, opts: Parameters<typeof undiciRequest>[1] = {}) =>
    undiciRequest(url, { ...opts, dispatcher: agent });
const primaryKey = newKey();
let secondaryKey = newKey();

before(async () => {
    assert.ok(existsSync(ROUTER_BUNDLE), `${ROUTER_BUNDLE} is missing: run npm run build first`);
    e2e = await setupE2e("router", { kubeletNamespaces: [ROUTER_NS, SERVICE_NS] });
    apps = e2e.kc.makeApiClient(k8s.AppsV1Api);
    core = e2e.kc.makeApiClient(k8s.CoreV1Api);
    const sample = join(REPO, "examples", "sample");
    kubelet = await startKubelet({
        kc: e2e.kc,
        cluster: e2e.cluster,
        namespaces: [ROUTER_NS, SERVICE_NS],
        logDir: join(e2e.dir, "pods"),
        commandFor(pod) {
            const ns = pod.metadata?.namespace;
            if (ns === ROUTER_NS) {
                // The router image's entry: the bundle, run by node (R21: it talks to the API
                // server with its own ServiceAccount token, set up by the kubelet).
                return { command: process.execPath, args: [ROUTER_BUNDLE] };
            }
            if (ns === SERVICE_NS) {
                return {
                    command: "python3",
                    args: [join(REPO, "runtime", "python", "amlserver.py")],
                    env: {
                        AML_APP_ROOT: join(REPO, "test", "e2e", "fixtures", "model"),
                        AZUREML_SOURCE_DIRECTORY: join(REPO, "test", "e2e", "fixtures", "model"),
                        AZUREML_ENTRY_SCRIPT: "score.py",
                        AZUREML_MODEL_DIR: join(sample, "model"),
                        POD_NAME: pod.metadata?.name ?? "",
                    },
                };
            }
            return undefined;
        },
    });
    stack = new Stack(e2e.engine, PROGRAM, "dev");
    await stack.init(
        { routerImage: ROUTER_IMAGE, imageRef: MODEL_IMAGE },
        { kubeconfig: e2e.cluster.kubeconfig, primaryKey, secondaryKey },
    );
});

after(async () => {
    await agent.destroy();
    await kubelet?.stop();
    await e2e?.cleanup();
});

// ---- helpers ----------------------------------------------------------------------------------

interface Outcome {
    status: number;
    body: string;
    router: string;
}

/** Running router pods (ready, not terminating) and their addresses. */
async function routerPods(): Promise<{ name: string; ip: string }[]> {
    const pods = await core.listNamespacedPod({
        namespace: ROUTER_NS,
        labelSelector: "app.kubernetes.io/name=amlaks-router",
    });
    return pods.items
        .filter(
            (p) =>
                !p.metadata?.deletionTimestamp &&
                p.status?.podIP &&
                p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
        )
        .map((p) => ({ name: p.metadata!.name!, ip: p.status!.podIP! }));
}

async function leaseHolder(): Promise<string | undefined> {
    const coord = e2e.kc.makeApiClient(k8s.CoordinationV1Api);
    try {
        const l = await coord.readNamespacedLease({
            name: ROUTER_LEASE_NAME,
            namespace: ROUTER_NS,
        });
        return l.spec?.holderIdentity || undefined;
    } catch {
        return undefined;
    }
}

async function score(ip: string, key: string, sleep = 0): Promise<Outcome> {
    const res = await request(`http://${ip}:8080/api/v1/service/${SERVICE}/score`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
        body: JSON.stringify({ data: [ROW], sleep }),
        headersTimeout: 60_000,
        bodyTimeout: 60_000,
    });
    return { status: res.statusCode, body: await res.body.text(), router: ip };
}

/** Closed-loop load: `concurrency` clients spread over `ips`, until `stop()` is called. */
function load(ips: () => string[], concurrency: number, sleep: number, key = primaryKey) {
    const outcomes: Outcome[] = [];
    let running = true;
    const clients = Array.from({ length: concurrency }, async (_, i) => {
        let n = 0;
        while (running) {
            const targets = ips();
            const ip = targets[(i + n++) % targets.length]!;
            try {
                outcomes.push(await score(ip, key, sleep));
            } catch (e) {
                outcomes.push({ status: 0, body: String(e), router: ip });
            }
        }
    });
    return {
        outcomes,
        async stop(): Promise<Outcome[]> {
            running = false;
            await Promise.all(clients);
            return outcomes;
        },
    };
}

function failures(outcomes: readonly Outcome[]): string[] {
    return outcomes
        .filter((o) => o.status !== 200)
        .map((o) => `${o.router}: ${o.status} ${o.body.slice(0, 200)}`);
}

async function specReplicas(): Promise<number> {
    const d = await apps.readNamespacedDeployment({ name: SERVICE, namespace: SERVICE_NS });
    return d.spec?.replicas ?? 0;
}

async function readyModelPods(): Promise<number> {
    const d = await apps.readNamespacedDeployment({ name: SERVICE, namespace: SERVICE_NS });
    return d.status?.readyReplicas ?? 0;
}

async function metric(ip: string, name: string): Promise<number | undefined> {
    const res = await request(`http://${ip}:9090/metrics`);
    const text = await res.body.text();
    const line = text.split("\n").find((l) => l.startsWith(name));
    return line === undefined ? undefined : Number(line.split(" ").pop());
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---- tests ------------------------------------------------------------------------------------

describe("a model deployed by pulumi up, served by the router on Kubernetes", () => {
    let routers: { name: string; ip: string }[] = [];

    test("pulumi up: three router pods and the model pod run and become ready", async () => {
        const r = await stack.up();
        assert.equal(r.code, 0, r.stdout + r.stderr);
        routers = await eventually("three ready router pods", 90_000, async () => {
            const pods = await routerPods();
            return pods.length === 3 ? pods : undefined;
        });
        await eventually("one ready model pod", 60_000, async () =>
            (await readyModelPods()) >= 1 ? true : undefined,
        );
    });

    test("the model answers through every router with the primary and the secondary key (R36); a wrong key gets 401", async () => {
        for (const { ip } of routers) {
            const ok = await eventually(`router ${ip} serves the model`, 60_000, async () => {
                const o = await score(ip, primaryKey);
                return o.status === 200 ? o : undefined;
            });
            const answer = JSON.parse(ok.body) as { predictions: number[] };
            assert.ok(Math.abs(answer.predictions[0]! - PREDICTION) < 1e-6, ok.body);
            assert.equal((await score(ip, secondaryKey)).status, 200);
            assert.equal((await score(ip, newKey())).status, 401);
        }
    });

    test("/metrics is on the metrics port only; exactly one router holds the scaler Lease", async () => {
        const holder = await eventually("a Lease holder", 30_000, leaseHolder);
        assert.ok(
            routers.some((p) => p.name === holder),
            `holder ${holder} is not a router pod`,
        );
        const leaders: string[] = [];
        for (const { ip, name } of routers) {
            const v = await metric(ip, "amlaks_router_scaler_leader");
            if (v === 1) leaders.push(name);
            const onMain = await request(`http://${ip}:8080/metrics`);
            await onMain.body.text();
            assert.equal(onMain.statusCode, 404, "metrics must not be served on the public port");
        }
        assert.deepEqual(leaders, [holder]);
    });

    test("load through the routers that do NOT scale: the leader sees it and scales out through the scale subresource; zero failed requests", async () => {
        const holder = await leaseHolder();
        const followers = routers.filter((p) => p.name !== holder).map((p) => p.ip);
        assert.equal(followers.length, 2);
        assert.equal(await specReplicas(), 1);
        const started = Date.now();
        const l = load(() => followers, 4, 0.5);
        const scaledAt = await eventually("spec.replicas > 1", 30_000, async () =>
            (await specReplicas()) > 1 ? Date.now() : undefined,
        );
        await eventually("four ready model pods", 60_000, async () =>
            (await readyModelPods()) === 4 ? true : undefined,
        );
        await sleep(3_000);
        const outcomes = await l.stop();
        process.stdout.write(
            `# scale out: replicas rose ${scaledAt - started} ms after load began; ${outcomes.length} requests\n`,
        );
        assert.deepEqual(failures(outcomes), []);
        // Pulumi never owns spec.replicas of an autoscaled service: the router set it.
        const d = await apps.readNamespacedDeployment({ name: SERVICE, namespace: SERVICE_NS });
        assert.ok(
            d.metadata?.managedFields?.some(
                (f) => f.subresource === "scale" && f.fieldsV1 !== undefined,
            ),
            "spec.replicas was written through the scale subresource",
        );
        // The work spread over the replicas.
        const pods = new Set(outcomes.map((o) => (JSON.parse(o.body) as { pod: string }).pod));
        assert.ok(pods.size >= 3, `answers came from ${[...pods].join(", ")}`);
    });

    test("after the window the leader scales back in (drained, idle pods first); zero failed requests", async () => {
        const trickle = load(() => routers.map((r) => r.ip), 1, 0);
        // One window (60 s) after the load step: fewer replicas, the trickle's need plus the
        // decision's headroom; the next window can go lower still.
        const shrunk = await eventually("a scale-in after the window", 120_000, async () => {
            const n = await specReplicas();
            return n < 4 ? n : undefined;
        });
        await eventually("model pods gone", 60_000, async () =>
            (await readyModelPods()) === shrunk ? true : undefined,
        );
        await sleep(12_000); // past the removed pods' preStop and drain
        const outcomes = await trickle.stop();
        assert.deepEqual(failures(outcomes), []);
        assert.ok(outcomes.length > 20, `${outcomes.length} requests`);
    });

    test("a model pod terminating mid-load loses no request", async () => {
        const l = load(() => routers.map((r) => r.ip), 3, 0.3);
        await sleep(2_000);
        const pods = await core.listNamespacedPod({
            namespace: SERVICE_NS,
            labelSelector: `app.kubernetes.io/name=${SERVICE}`,
        });
        const victim = pods.items.find((p) => !p.metadata?.deletionTimestamp)!;
        await core.deleteNamespacedPod({ name: victim.metadata!.name!, namespace: SERVICE_NS });
        await eventually("victim gone", 60_000, async () => {
            const left = await core.listNamespacedPod({ namespace: SERVICE_NS });
            return left.items.some((p) => p.metadata?.name === victim.metadata?.name)
                ? undefined
                : true;
        });
        await sleep(2_000);
        const outcomes = await l.stop();
        assert.deepEqual(failures(outcomes), []);
        assert.ok(outcomes.length > 10);
    });

    test("a hung model replica (not crashed) leaves rotation when readiness fails; liveness restarts it", async () => {
        const pods = await core.listNamespacedPod({
            namespace: SERVICE_NS,
            labelSelector: `app.kubernetes.io/name=${SERVICE}`,
        });
        const live = pods.items.filter((p) => !p.metadata?.deletionTimestamp);
        assert.ok(live.length >= 2, `${live.length} model pods`);
        const name = live[0]!.metadata!.name!;
        const before = kubelet.pods().find((p) => p.name === name)!.restarts;
        kubelet.process(name, SERVICE_NS)!.kill("SIGSTOP");
        const readyOf = async (): Promise<string | undefined> => {
            const p = await core.readNamespacedPod({ name, namespace: SERVICE_NS });
            return p.status?.conditions?.find((c) => c.type === "Ready")?.status;
        };
        await eventually("hung pod not ready", 30_000, async () =>
            (await readyOf()) === "False" ? true : undefined,
        );
        // Out of rotation once every router saw the EndpointSlice change (well under a second).
        await sleep(1_000);
        const l = load(() => routers.map((r) => r.ip), 2, 0.05);
        await sleep(3_000);
        const outcomes = await l.stop();
        assert.deepEqual(failures(outcomes), []);
        // Liveness killed and restarted it; it serves again.
        await eventually("hung pod restarted and ready", 60_000, async () => {
            const restarts = kubelet.pods().find((p) => p.name === name)?.restarts ?? 0;
            return restarts > before && (await readyOf()) === "True" ? true : undefined;
        });
    });

    test("rotating the secondary key by pulumi up: the primary never gets a 401, the new secondary works, the old one stops", async () => {
        const old = secondaryKey;
        secondaryKey = newKey();
        const l = load(() => routers.map((r) => r.ip), 2, 0.05, primaryKey);
        await stack.setConfig("secondaryKey", secondaryKey, true);
        const r = await stack.up();
        assert.equal(r.code, 0, r.stdout + r.stderr);
        for (const { ip } of routers) {
            await eventually(`router ${ip} accepts the new secondary`, 30_000, async () =>
                (await score(ip, secondaryKey)).status === 200 ? true : undefined,
            );
            assert.equal((await score(ip, old)).status, 401);
        }
        const outcomes = await l.stop();
        assert.deepEqual(failures(outcomes), []);
    });

    test("killing the scaler's leader hands the Lease to another router; no request through the others is lost, and scaling goes on", async () => {
        const holder = (await leaseHolder())!;
        const others = routers.filter((p) => p.name !== holder);
        const l = load(() => others.map((p) => p.ip), 2, 0.2);
        await sleep(1_000);
        // No graceful release: the process dies, the pod object goes at once.
        kubelet.process(holder)?.kill("SIGKILL");
        await core.deleteNamespacedPod({
            name: holder,
            namespace: ROUTER_NS,
            gracePeriodSeconds: 0,
        });
        const next = await eventually("a new Lease holder", 40_000, async () => {
            const h = await leaseHolder();
            return h && h !== holder ? h : undefined;
        });
        assert.ok(
            others.some((p) => p.name === next),
            `new holder ${next}`,
        );
        const outcomes = await l.stop();
        assert.deepEqual(failures(outcomes), []);
        routers = await eventually("three ready router pods again", 90_000, async () => {
            const pods = await routerPods();
            return pods.length === 3 ? pods : undefined;
        });
        // The new leader runs the autoscaler: its gauges track the Deployment.
        const leader = routers.find((p) => p.name === next)!;
        assert.ok(leader, `new holder ${next} is not among the ready routers`);
        await eventually("the new leader's autoscaler reports", 30_000, async () =>
            (await metric(leader.ip, "amlaks_router_scaler_leader")) === 1 &&
            (await metric(leader.ip, "amlaks_autoscaler_current_replicas")) ===
                (await specReplicas())
                ? true
                : undefined,
        );
    });

    test("a router pod deleted gracefully mid-load (rollout, node drain) loses no request", async () => {
        // Like a load balancer following the router Service's endpoints: a terminating pod
        // leaves the target list within 200 ms.
        let targets = routers.map((p) => p.ip);
        const follow = setInterval(() => {
            routerPods().then(
                (pods) => (targets = pods.map((p) => p.ip)),
                () => undefined,
            );
        }, 200);
        try {
            const l = load(() => targets, 3, 0.3);
            await sleep(1_000);
            const victim = routers[0]!;
            await core.deleteNamespacedPod({ name: victim.name, namespace: ROUTER_NS });
            await eventually("the router pod is gone", 90_000, async () => {
                const pods = await core.listNamespacedPod({ namespace: ROUTER_NS });
                return pods.items.some((p) => p.metadata?.name === victim.name) ? undefined : true;
            });
            await sleep(1_000);
            const outcomes = await l.stop();
            assert.deepEqual(failures(outcomes), []);
            assert.ok(
                outcomes.some((o) => o.router === victim.ip),
                "the victim served until it left",
            );
        } finally {
            clearInterval(follow);
        }
        routers = await eventually("three ready router pods again", 90_000, async () => {
            const pods = await routerPods();
            return pods.length === 3 ? pods : undefined;
        });
    });

    test("an API server restart mid-load does not interrupt serving", async () => {
        const l = load(() => routers.map((r) => r.ip), 3, 0.1);
        await sleep(1_000);
        await e2e.cluster.restartApiServer();
        await sleep(3_000);
        const outcomes = await l.stop();
        assert.deepEqual(failures(outcomes), []);
        assert.ok(outcomes.length > 20);
        // Watches resumed: a change after the restart still reaches every router.
        for (const { ip } of routers) {
            assert.equal((await score(ip, primaryKey)).status, 200);
        }
    });

    test("pulumi preview right after changes nothing (the router's replica count is not a diff)", async () => {
        assert.notEqual(await specReplicas(), 1);
        const r = await stack.run(["preview", "--expect-no-changes"]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
    });

    test("destroy removes the routers' Roles and the service namespace", async () => {
        const r = await stack.run(["destroy", "--yes", "--skip-preview"]);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        const rbac = e2e.kc.makeApiClient(k8s.RbacAuthorizationV1Api);
        const roles = await rbac.listRoleForAllNamespaces({
            labelSelector: "app.kubernetes.io/name=amlaks-router",
        });
        assert.deepEqual(
            roles.items.map((x) => `${x.metadata?.namespace}/${x.metadata?.name}`),
            [],
        );
    });
});
