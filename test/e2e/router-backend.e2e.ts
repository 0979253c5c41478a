/**
 * The router's Kubernetes backend against a real API server, controller-manager and kwok: a model
 * service rendered by the web-service render functions is discovered with its settings, keys and
 * ready pod addresses; scaling goes through the scale subresource and marks the drained pod; key
 * rotation, a broken settings edit, pod loss, the router's own RBAC, an API server restart and
 * deletion each behave as the router relies on. Nothing is dialled: pod IPs are only compared.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import pino from "pino";
import { copyRules, ROUTER_RBAC, type RbacRule } from "../../components/cluster/router-rbac";
import {
    POD_DELETION_COST_ANNOTATION,
    SECRET_PRIMARY_KEY,
    SECRET_SECONDARY_KEY,
    SETTINGS_ANNOTATION,
} from "../../components/webservice/contract";
import {
    renderAuthSecret,
    renderDeployment,
    renderService,
    renderSettingsAnnotation,
    type WebserviceRenderInput,
} from "../../components/webservice/render";
import { KubernetesBackend, LOWEST_POD_DELETION_COST } from "../../router/backends/kubernetes";
import type { BackendListener, Replica, ServiceDefinition } from "../../router/types";
import { modelServiceInput } from "../support/model-service";
import { type E2e, eventually, newKey, setupE2e } from "./support";

const NS = "models";
const SERVICE = "diabetes";
const SELECTOR = `amlaks.io/service=${SERVICE}`;
const BACKOFF = { min: 200, max: 2_000 };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Event =
    | { readonly type: "service"; readonly definition: ServiceDefinition }
    | { readonly type: "removed"; readonly service: string }
    | {
          readonly type: "replicas";
          readonly service: string;
          readonly replicas: readonly Replica[];
      };

/** Records what a backend tells the router. */
class Recorder implements BackendListener {
    readonly events: Event[] = [];
    readonly definitions = new Map<string, ServiceDefinition>();
    readonly replicas = new Map<string, readonly Replica[]>();
    onService(definition: ServiceDefinition): void {
        this.events.push({ type: "service", definition });
        this.definitions.set(definition.name, definition);
    }
    onServiceRemoved(service: string): void {
        this.events.push({ type: "removed", service });
        this.definitions.delete(service);
        this.replicas.delete(service);
    }
    onReplicas(service: string, replicas: readonly Replica[]): void {
        this.events.push({ type: "replicas", service, replicas });
        this.replicas.set(service, replicas);
    }
    ids(service = SERVICE): string[] {
        return (this.replicas.get(service) ?? []).map((r) => r.id);
    }
    since(index: number): Event[] {
        return this.events.slice(index);
    }
}

/** Log lines of a backend, parsed. */
class LogLines {
    readonly lines: Array<{ level: number; msg: string; [k: string]: unknown }> = [];
    readonly logger = pino({ level: "info" }, { write: (l: string) => this.push(l) });
    private push(line: string): void {
        this.lines.push(JSON.parse(line) as LogLines["lines"][number]);
    }
}

let e2e: E2e;
let core: k8s.CoreV1Api;
let apps: k8s.AppsV1Api;
let objects: k8s.KubernetesObjectApi;
let backend: KubernetesBackend;
const started: KubernetesBackend[] = [];
const recorder = new Recorder();
const logs = new LogLines();
const undrained: string[] = [];
const primaryKey = newKey();
let secondaryKey = newKey();

function renderInput(scoringTimeoutMs = 5000): WebserviceRenderInput {
    return modelServiceInput(
        {
            name: SERVICE,
            namespace: NS,
            authEnabled: true,
            autoscaleEnabled: true,
            autoscaleMinReplicas: 2,
            autoscaleMaxReplicas: 5,
            scoringTimeoutMs,
        },
        { primaryKey, secondaryKey },
    );
}

function newBackend(
    kubeConfig: k8s.KubeConfig,
    recordUndrain = false,
    victimCheckMs?: number,
    instance = "router-e2e",
): KubernetesBackend {
    const b = new KubernetesBackend({
        kubeConfig,
        instance,
        namespaces: [NS],
        logger: logs.logger,
        backoffMs: BACKOFF,
        victimCheckMs,
        routing: {
            undrain: (service, id) => {
                if (recordUndrain) undrained.push(`${service}/${id}`);
                return true;
            },
        },
    });
    started.push(b);
    return b;
}

/** Ready, not terminating model pods as the router should see them. */
async function readyPods(): Promise<Replica[]> {
    const pods = await core.listNamespacedPod({ namespace: NS, labelSelector: SELECTOR });
    return pods.items
        .filter(
            (p) =>
                !p.metadata?.deletionTimestamp &&
                p.status?.podIP &&
                p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
        )
        .map((p) => ({ id: p.metadata!.name!, url: `http://${p.status!.podIP}:5001` }))
        .sort((a, b) => (a.id < b.id ? -1 : 1));
}

/** The Events a router instance wrote on the model Deployment, oldest first. */
async function eventsBy(instance: string, reason: string): Promise<k8s.CoreV1Event[]> {
    const list = await core.listNamespacedEvent({
        namespace: NS,
        fieldSelector: `involvedObject.kind=Deployment,involvedObject.name=${SERVICE},reason=${reason}`,
    });
    return list.items.filter((e) => e.reportingInstance === instance);
}

async function specReplicas(): Promise<number | undefined> {
    return (await apps.readNamespacedDeployment({ name: SERVICE, namespace: NS })).spec?.replicas;
}

/** Waits until the recorder's ready set has `n` replicas equal to the ready pods. */
async function replicasSettle(rec: Recorder, n: number): Promise<readonly Replica[]> {
    return eventually(`${n} ready replicas announced`, 60_000, async () => {
        const seen = rec.replicas.get(SERVICE) ?? [];
        if (seen.length !== n) return undefined;
        return JSON.stringify(seen) === JSON.stringify(await readyPods()) ? seen : undefined;
    });
}

/** A kubeconfig that authenticates as a new ServiceAccount bound to a Role of `rules` in NS. */
async function serviceAccountKubeConfig(
    name: string,
    rules: readonly RbacRule[],
): Promise<k8s.KubeConfig> {
    const rbac = e2e.kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    await core.createNamespacedServiceAccount({
        namespace: "azureml",
        body: { metadata: { name } },
    });
    await rbac.createNamespacedRole({
        namespace: NS,
        body: { metadata: { name }, rules: copyRules(rules) },
    });
    await rbac.createNamespacedRoleBinding({
        namespace: NS,
        body: {
            metadata: { name },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
            subjects: [{ kind: "ServiceAccount", name, namespace: "azureml" }],
        },
    });
    const tr = await core.createNamespacedServiceAccountToken({
        name,
        namespace: "azureml",
        body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
    const cluster = e2e.kc.getCurrentCluster()!;
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({
        clusters: [
            { name: "e2e", server: cluster.server, caData: cluster.caData, skipTLSVerify: false },
        ],
        users: [{ name, token: tr.status!.token }],
        contexts: [{ name, cluster: "e2e", user: name }],
        currentContext: name,
    });
    return kc;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout;
    return Promise.race([
        p.finally(() => clearTimeout(timer)),
        new Promise<T>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
        }),
    ]);
}

async function replaceSecretKeys(primary: string, secondary: string): Promise<void> {
    const name = `${SERVICE}-auth`;
    const s = await core.readNamespacedSecret({ name, namespace: NS });
    s.data = {
        ...s.data,
        [SECRET_PRIMARY_KEY]: Buffer.from(primary).toString("base64"),
        [SECRET_SECONDARY_KEY]: Buffer.from(secondary).toString("base64"),
    };
    await core.replaceNamespacedSecret({ name, namespace: NS, body: s });
}

before(async () => {
    e2e = await setupE2e("router-backend", { pulumi: false });
    core = e2e.kc.makeApiClient(k8s.CoreV1Api);
    apps = e2e.kc.makeApiClient(k8s.AppsV1Api);
    objects = k8s.KubernetesObjectApi.makeApiClient(e2e.kc);
    for (const ns of [NS, "azureml"]) {
        await core.createNamespace({ body: { metadata: { name: ns } } });
    }
});
after(async () => {
    for (const b of started) await b.stop();
    await e2e?.cleanup();
});

describe("router Kubernetes backend against a real API server", () => {
    test("discovers a rendered model service: settings, both keys, ready pods on :5001", async () => {
        backend = newBackend(e2e.kc, true);
        await withTimeout(backend.start(recorder), 30_000, "backend start");
        assert.deepEqual(recorder.events, [], "an empty namespace announces nothing");

        const input = renderInput();
        for (const o of [renderAuthSecret(input), renderDeployment(input), renderService(input)]) {
            await objects.create(o as unknown as k8s.KubernetesObject);
        }
        const definition = await eventually("onService", 30_000, async () =>
            recorder.definitions.get(SERVICE),
        );
        assert.equal(definition.settings.autoscaleMinReplicas, 2);
        assert.equal(definition.settings.autoscaleMaxReplicas, 5);
        assert.equal(definition.settings.scoringTimeoutMs, 5000);
        assert.deepEqual(definition.auth, { mode: "key", primaryKey, secondaryKey });

        const replicas = await replicasSettle(recorder, 2);
        for (const r of replicas) assert.match(r.url, /^http:\/\/198\.18\.\d+\.\d+:5001$/);
        assert.equal(backend.currentReplicas(SERVICE), 2);
        const first = recorder.since(0).findIndex((e) => e.type === "service");
        const firstReplicas = recorder.since(0).findIndex((e) => e.type === "replicas");
        assert.ok(first < firstReplicas, "the service is announced before its replicas");
    });

    test("scaleTo: up through the scale subresource, down removing exactly the marked victim", async () => {
        await backend.scaleTo(SERVICE, 3, []);
        assert.equal(await specReplicas(), 3);
        assert.equal(backend.currentReplicas(SERVICE), 3);
        const d = await apps.readNamespacedDeployment({ name: SERVICE, namespace: NS });
        assert.ok(
            d.metadata?.managedFields?.some((f) => f.subresource === "scale"),
            "replicas were written through deployments/scale",
        );
        const three = await replicasSettle(recorder, 3);

        // Watch the pods so the victim's last state (with its annotation) is seen even if it is
        // deleted at once.
        const victim = three[1].id;
        const seen: k8s.V1Pod[] = [];
        const stopWatch = await new k8s.Watch(e2e.kc).watch(
            `/api/v1/namespaces/${NS}/pods`,
            { labelSelector: SELECTOR },
            (_type, pod: k8s.V1Pod) => {
                if (pod.metadata?.name === victim) seen.push(pod);
            },
            () => undefined,
        );
        try {
            await backend.scaleTo(SERVICE, 2, [victim]);
            assert.equal(await specReplicas(), 2);
            assert.equal(backend.currentReplicas(SERVICE), 2);
            const remaining = await replicasSettle(recorder, 2);
            assert.deepEqual(
                remaining.map((r) => r.id),
                three.map((r) => r.id).filter((id) => id !== victim),
                "the ReplicaSet removed the drained victim, not another pod",
            );
            await eventually(
                "victim terminating with the lowest deletion cost",
                10_000,
                async () =>
                    seen.some(
                        (p) =>
                            p.metadata?.deletionTimestamp &&
                            p.metadata.annotations?.[POD_DELETION_COST_ANNOTATION] ===
                                LOWEST_POD_DELETION_COST,
                    ) || undefined,
            );
        } finally {
            stopWatch.abort();
        }
        assert.deepEqual(undrained, [], "nothing undrained after a successful scale");
    });

    test("rotating the secondary key re-announces both keys at once; the service never goes away", async () => {
        const mark = recorder.events.length;
        const rotated = newKey();
        await replaceSecretKeys(primaryKey, rotated);
        await eventually("rotated key announced", 30_000, async () =>
            recorder.definitions.get(SERVICE)?.auth.secondaryKey === rotated ? true : undefined,
        );
        secondaryKey = rotated;
        const events = recorder.since(mark);
        assert.ok(!events.some((e) => e.type === "removed"));
        for (const e of events) {
            if (e.type === "service") assert.equal(e.definition.auth.primaryKey, primaryKey);
        }
        assert.ok(!events.some((e) => e.type === "replicas" && e.replicas.length === 0));
    });

    test("an auth Secret replaced by delete-then-create keeps its keys in between; one gone past the grace period revokes them", async () => {
        const rec = new Recorder();
        const b = new KubernetesBackend({
            kubeConfig: e2e.kc,
            namespaces: [NS],
            logger: logs.logger,
            backoffMs: BACKOFF,
            secretGoneGraceMs: 3_000,
        });
        started.push(b);
        await withTimeout(b.start(rec), 30_000, "backend start");
        const name = `${SERVICE}-auth`;
        const live = await core.readNamespacedSecret({ name, namespace: NS });
        const body: k8s.V1Secret = {
            metadata: { name, namespace: NS, labels: live.metadata?.labels },
            type: live.type,
            data: live.data,
        };
        const mark = rec.events.length;
        await core.deleteNamespacedSecret({ name, namespace: NS });
        await sleep(1_000);
        await core.createNamespacedSecret({ namespace: NS, body });
        await sleep(1_000);
        for (const e of rec.since(mark)) {
            if (e.type === "service") {
                assert.equal(e.definition.auth.primaryKey, primaryKey, "no keyless moment");
                assert.equal(e.definition.auth.secondaryKey, secondaryKey);
            }
        }
        assert.equal(rec.definitions.get(SERVICE)?.auth.primaryKey, primaryKey);
        // Gone for good: after the grace period no key works (never open).
        await core.deleteNamespacedSecret({ name, namespace: NS });
        await eventually("keys revoked", 10_000, async () =>
            rec.definitions.get(SERVICE)?.auth.primaryKey === undefined ? true : undefined,
        );
        assert.equal(rec.definitions.get(SERVICE)?.auth.mode, "key");
        await core.createNamespacedSecret({ namespace: NS, body });
        await eventually("keys back", 10_000, async () =>
            rec.definitions.get(SERVICE)?.auth.primaryKey === primaryKey ? true : undefined,
        );
        await b.stop();
    });

    test("a settings annotation edited into invalid JSON keeps the last valid definition", async () => {
        const mark = recorder.events.length;
        const logMark = logs.lines.length;
        await apps.patchNamespacedDeployment(
            {
                name: SERVICE,
                namespace: NS,
                body: { metadata: { annotations: { [SETTINGS_ANNOTATION]: "{broken" } } },
            },
            k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
        );
        const warning = await eventually("warning about the invalid settings", 30_000, async () =>
            logs.lines.slice(logMark).find((l) => /keeping the last valid/.test(l.msg)),
        );
        assert.match(String(warning.problem), /not valid JSON/);
        assert.deepEqual(recorder.since(mark), [], "no event: the previous definition stands");
        assert.equal(backend.currentReplicas(SERVICE), 2);

        // A valid edit is picked up again, with the keys of the Secret.
        const fixed = renderSettingsAnnotation(renderInput(7000).settings);
        await apps.patchNamespacedDeployment(
            {
                name: SERVICE,
                namespace: NS,
                body: { metadata: { annotations: { [SETTINGS_ANNOTATION]: fixed } } },
            },
            k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
        );
        const d = await eventually("fixed settings announced", 30_000, async () => {
            const def = recorder.definitions.get(SERVICE);
            return def?.settings.scoringTimeoutMs === 7000 ? def : undefined;
        });
        assert.deepEqual(d.auth, { mode: "key", primaryKey, secondaryKey });
        assert.equal(logs.lines.slice(logMark).filter((l) => /keeping/.test(l.msg)).length, 1);
    });

    test("a deleted pod leaves the ready set; its replacement joins it", async () => {
        const before = recorder.ids();
        const gone = before[0];
        await core.deleteNamespacedPod({ name: gone, namespace: NS, gracePeriodSeconds: 0 });
        await eventually("deleted pod removed", 30_000, async () =>
            recorder.ids().includes(gone) ? undefined : true,
        );
        const after = await replicasSettle(recorder, 2);
        assert.ok(!after.some((r) => r.id === gone));
    });

    test("the router's Role (ROUTER_RBAC.serviceNamespaceRules) is enough to discover and scale", async () => {
        const kc = await serviceAccountKubeConfig(
            "amlaks-router",
            ROUTER_RBAC.serviceNamespaceRules,
        );
        // The token really is limited: nothing outside the Role's namespace.
        await assert.rejects(
            kc.makeApiClient(k8s.AppsV1Api).listNamespacedDeployment({ namespace: "default" }),
            (e: { code?: number }) => e.code === 403,
        );
        const rec = new Recorder();
        const b = newBackend(kc, false, undefined, "router-restricted");
        await withTimeout(b.start(rec), 30_000, "restricted backend start");
        // start() resolves having announced what exists.
        assert.deepEqual(rec.definitions.get(SERVICE)?.auth, {
            mode: "key",
            primaryKey,
            secondaryKey,
        });
        assert.deepEqual(rec.ids(), recorder.ids());
        await b.scaleTo(SERVICE, 3, []);
        const three = await replicasSettle(rec, 3);
        await b.scaleTo(SERVICE, 2, [three[0].id]);
        const two = await replicasSettle(rec, 2);
        assert.ok(!two.some((r) => r.id === three[0].id));
        await b.stop();
        // The Role lets it report both scales as Events on the Deployment, as an HPA would.
        const uid = (await apps.readNamespacedDeployment({ name: SERVICE, namespace: NS })).metadata
            ?.uid;
        const events = await eventsBy("router-restricted", "SuccessfulRescale");
        assert.deepEqual(
            events.map((e) => [e.type, e.message, e.involvedObject.uid, e.source?.component]),
            [
                ["Normal", "New size: 3; was 2; reason: router autoscaler", uid, "amlaks-router"],
                [
                    "Normal",
                    `New size: 2; was 3; reason: router autoscaler; drained first: ${three[0].id}`,
                    uid,
                    "amlaks-router",
                ],
            ],
        );
    });

    test("a failed scale-down un-drains the victims and clears their mark", async () => {
        // Everything but deployments/scale: marking succeeds, scaling is forbidden.
        const rules = ROUTER_RBAC.serviceNamespaceRules.filter(
            (r) => !r.resources.includes("deployments/scale"),
        );
        const kc = await serviceAccountKubeConfig("no-scale", rules);
        const b = newBackend(kc, true, undefined, "router-no-scale");
        await withTimeout(b.start(new Recorder()), 30_000, "no-scale backend start");
        const victim = recorder.ids()[0];
        await assert.rejects(
            b.scaleTo(SERVICE, 1, [victim]),
            (e: { code?: number }) => e.code === 403,
        );
        assert.deepEqual(undrained, [`${SERVICE}/${victim}`]);
        const pod = await core.readNamespacedPod({ name: victim, namespace: NS });
        assert.equal(pod.metadata?.annotations?.[POD_DELETION_COST_ANNOTATION], undefined);
        assert.equal(await specReplicas(), 2);
        assert.equal(b.currentReplicas(SERVICE), 2);
        await b.stop();
        const [failed, ...more] = await eventsBy("router-no-scale", "FailedRescale");
        assert.equal(more.length, 0);
        assert.equal(failed?.type, "Warning");
        assert.match(
            failed?.message ?? "",
            /^New size: 1; was 2; error: 403 deployments\.apps "diabetes" is forbidden: .*deployments\/scale/,
        );
    });

    test("a drained victim the ReplicaSet kept serves again and loses its mark", async () => {
        const b = newBackend(e2e.kc, true, 1_000, "router-kept");
        await withTimeout(b.start(new Recorder()), 30_000, "backend start");
        undrained.length = 0;
        const victim = recorder.ids()[0];
        const count = await specReplicas();
        // Same count: the ReplicaSet removes nothing, so the marked victim survives.
        await b.scaleTo(SERVICE, count!, [victim]);
        const marked = await core.readNamespacedPod({ name: victim, namespace: NS });
        assert.equal(marked.metadata?.annotations?.[POD_DELETION_COST_ANNOTATION], "-2147483648");
        await eventually("victim back in rotation", 10_000, async () =>
            undrained.includes(`${SERVICE}/${victim}`) ? true : undefined,
        );
        await eventually("mark cleared", 10_000, async () => {
            const pod = await core.readNamespacedPod({ name: victim, namespace: NS });
            return pod.metadata?.annotations?.[POD_DELETION_COST_ANNOTATION] === undefined
                ? true
                : undefined;
        });
        await b.stop();
        const kept = await eventsBy("router-kept", "DrainedPodKept");
        assert.deepEqual(
            kept.map((e) => [e.type, e.message]),
            [
                [
                    "Warning",
                    `Pod ${victim} was drained for a scale-in but the ReplicaSet kept it; it serves again`,
                ],
            ],
        );
    });

    test("an API server restart removes nothing, and later changes are still seen", async () => {
        const mark = recorder.events.length;
        const readyBefore = recorder.ids();
        await e2e.cluster.restartApiServer();
        const newPrimary = newKey();
        await replaceSecretKeys(newPrimary, secondaryKey);
        await eventually("change after the restart announced", 60_000, async () =>
            recorder.definitions.get(SERVICE)?.auth.primaryKey === newPrimary ? true : undefined,
        );
        const events = recorder.since(mark);
        assert.ok(!events.some((e) => e.type === "removed"), JSON.stringify(events));
        assert.ok(!events.some((e) => e.type === "replicas" && e.replicas.length === 0));
        assert.deepEqual(recorder.ids(), readyBefore);
        assert.equal(recorder.definitions.get(SERVICE)?.auth.secondaryKey, secondaryKey);
    });

    test("deleting the Deployment removes the service", async () => {
        await apps.deleteNamespacedDeployment({ name: SERVICE, namespace: NS });
        await eventually("onServiceRemoved", 30_000, async () =>
            recorder.events.some((e) => e.type === "removed" && e.service === SERVICE)
                ? true
                : undefined,
        );
        assert.throws(() => backend.currentReplicas(SERVICE), /unknown service/);
        await assert.rejects(backend.scaleTo(SERVICE, 1, []), /unknown service/);
    });
});
