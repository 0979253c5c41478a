/**
 * The test kubelet's decisions (cluster/kubelet-logic.ts): the rules the e2e tests rely on to
 * behave like a real node — probe thresholds, restart policy and backoff, grace periods, the
 * container environment and the pod status written to the API.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type * as k8s from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { excludeNamespacesFromPodStages } from "./cluster/control-plane";
import {
    canonicalJson,
    containerEnv,
    type ContainerView,
    type EnvSources,
    hostIdFor,
    IpPool,
    probeAction,
    ProbeResult,
    probeTiming,
    podPhase,
    podStatus,
    restartDelayMs,
    terminationTiming,
} from "./cluster/kubelet-logic";

describe("IpPool", () => {
    test("hands out each address of the block once, skipping taken ones, network and broadcast", () => {
        const pool = new IpPool(
            "198.18.120.0/29",
            (ip) => ip === "198.18.120.3",
            () => 0,
        );
        const got = Array.from({ length: 5 }, () => pool.allocate());
        assert.deepEqual(got, [
            "198.18.120.1",
            "198.18.120.2",
            "198.18.120.4",
            "198.18.120.5",
            "198.18.120.6",
        ]);
        assert.throws(() => pool.allocate(), /no free pod address/);
        pool.release("198.18.120.4");
        assert.equal(pool.allocate(), "198.18.120.4");
    });

    test("host ids are unique per address and valid test host ids", () => {
        assert.equal(hostIdFor("198.18.120.1"), "kl7801");
        assert.equal(hostIdFor("198.18.127.254"), "kl7ffe");
        assert.notEqual(hostIdFor("198.18.120.1"), hostIdFor("198.18.121.1"));
        assert.match(hostIdFor("198.18.0.0"), /^[a-z0-9]{1,8}$/);
    });
});

describe("probes", () => {
    const container: k8s.V1Container = {
        name: "model",
        ports: [{ name: "http", containerPort: 5001 }],
    };

    test("timing defaults are Kubernetes' (10 s period, 1 s timeout, 1 success, 3 failures)", () => {
        assert.deepEqual(probeTiming({}), {
            initialDelayMs: 0,
            periodMs: 10_000,
            timeoutMs: 1000,
            successThreshold: 1,
            failureThreshold: 3,
        });
    });

    test("named ports resolve through the container's ports; other hosts are refused", () => {
        const action = probeAction(
            { httpGet: { path: "healthz", port: "http" } },
            container,
            "198.18.120.9",
        );
        assert.deepEqual(action, {
            kind: "http",
            url: "http://198.18.120.9:5001/healthz",
            headers: { "user-agent": "kube-probe/amlaks-kubelet" },
        });
        assert.throws(
            () => probeAction({ httpGet: { port: "grpc" } }, container, "198.18.120.9"),
            /no port named "grpc"/,
        );
        assert.throws(
            () =>
                probeAction({ httpGet: { port: 80, host: "10.0.0.1" } }, container, "198.18.120.9"),
            /not the pod's/,
        );
    });

    test("readiness needs successThreshold successes in a row, then failureThreshold failures to drop", () => {
        const r = new ProbeResult(probeTiming({ successThreshold: 2, failureThreshold: 2 }), false);
        assert.equal(r.record(true), false);
        assert.equal(r.record(false), false); // the run of successes is broken
        assert.equal(r.record(true), false);
        assert.equal(r.record(true), true);
        assert.equal(r.ok, true);
        assert.equal(r.record(false), false);
        assert.equal(r.consecutiveFailures, 1);
        assert.equal(r.record(false), true);
        assert.equal(r.ok, false);
    });
});

describe("restarts and termination", () => {
    test("restart policy decides; quick crashes back off up to 10 s", () => {
        assert.equal(restartDelayMs(undefined, 1, 0), 0);
        assert.equal(restartDelayMs("Always", 0, 1), 1000);
        assert.equal(restartDelayMs("Always", 1, 3), 4000);
        assert.equal(restartDelayMs("Always", 1, 9), 10_000);
        assert.equal(restartDelayMs("OnFailure", 0, 0), undefined);
        assert.equal(restartDelayMs("OnFailure", 2, 0), 0);
        assert.equal(restartDelayMs("Never", 2, 0), undefined);
    });

    test("preStop sleeps inside the grace period; SIGTERM gets the rest, at least 2 s", () => {
        const c = (seconds: number): k8s.V1Container => ({
            name: "c",
            lifecycle: { preStop: { sleep: { seconds } } },
        });
        const pod = (grace?: number, deletionGrace?: number): k8s.V1Pod => ({
            metadata: { deletionGracePeriodSeconds: deletionGrace },
            spec: { containers: [], terminationGracePeriodSeconds: grace },
        });
        assert.deepEqual(terminationTiming(pod(10), c(3)), { preStopMs: 3000, termMs: 7000 });
        assert.deepEqual(terminationTiming(pod(10, 4), c(3)), { preStopMs: 3000, termMs: 2000 });
        assert.deepEqual(terminationTiming(pod(), { name: "c" }), { preStopMs: 0, termMs: 30_000 });
        assert.deepEqual(terminationTiming(pod(0), c(5)), { preStopMs: 0, termMs: 0 });
    });
});

describe("container environment", () => {
    const pod: k8s.V1Pod = {
        metadata: { name: "router-0", namespace: "azureml", uid: "u1", labels: { app: "r" } },
        spec: { containers: [], serviceAccountName: "azureml-fe", nodeName: "n1" },
        status: { podIP: "198.18.120.7", hostIP: "198.18.255.254" },
    };
    const sources: EnvSources = {
        secret: async (name) => (name === "keys" ? { primary: "p-key" } : undefined),
        configMap: async (name) => (name === "cfg" ? { A: "1", B: "2" } : undefined),
    };

    test("values, $(VAR) references, downward API, Secret and ConfigMap keys, envFrom with prefix", async () => {
        const env = await containerEnv(
            pod,
            {
                name: "c",
                envFrom: [{ configMapRef: { name: "cfg" }, prefix: "CFG_" }],
                env: [
                    { name: "NS", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
                    { name: "WHERE", value: "$(NS)/$(NOPE) costs $$5" },
                    { name: "IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
                    {
                        name: "SA",
                        valueFrom: { fieldRef: { fieldPath: "spec.serviceAccountName" } },
                    },
                    {
                        name: "APP",
                        valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } },
                    },
                    { name: "KEY", valueFrom: { secretKeyRef: { name: "keys", key: "primary" } } },
                    {
                        name: "OPT",
                        valueFrom: { secretKeyRef: { name: "gone", key: "x", optional: true } },
                    },
                ],
            },
            sources,
        );
        assert.deepEqual(env, {
            CFG_A: "1",
            CFG_B: "2",
            NS: "azureml",
            WHERE: "azureml/$(NOPE) costs $5",
            IP: "198.18.120.7",
            SA: "azureml-fe",
            APP: "r",
            KEY: "p-key",
        });
    });

    test("a missing Secret key keeps the container from starting", async () => {
        await assert.rejects(
            containerEnv(
                pod,
                {
                    name: "c",
                    env: [
                        { name: "K", valueFrom: { secretKeyRef: { name: "keys", key: "nope" } } },
                    ],
                },
                sources,
            ),
            /couldn't find key nope in Secret keys/,
        );
    });
});

describe("pod status", () => {
    const t0 = new Date("2030-01-01T00:00:00Z");
    const t1 = new Date("2030-01-01T00:00:05Z");
    const running = (ready: boolean, restartCount = 0): ContainerView => ({
        name: "model",
        image: "registry.example/model@sha256:abc",
        state: { kind: "running", startedAt: t0 },
        ready,
        started: true,
        restartCount,
        pid: 42,
    });
    const view = (containers: ContainerView[], restartPolicy?: string) => ({
        ip: "198.18.120.7",
        hostIp: "198.18.255.254",
        startTime: t0,
        restartPolicy,
        containers,
    });
    const pod = (status?: k8s.V1PodStatus, gates?: string[]): k8s.V1Pod => ({
        metadata: { name: "m" },
        spec: {
            containers: [],
            ...(gates ? { readinessGates: gates.map((conditionType) => ({ conditionType })) } : {}),
        },
        status,
    });
    const cond = (s: k8s.V1PodStatus, type: string) => s.conditions?.find((c) => c.type === type);

    test("Ready and ContainersReady follow the containers; addresses and container status as a kubelet writes them", () => {
        const s = podStatus(pod({ qosClass: "BestEffort" }), view([running(false)]), t0);
        assert.equal(s.phase, "Running");
        assert.equal(s.podIP, "198.18.120.7");
        assert.equal(s.hostIP, "198.18.255.254");
        assert.equal(s.qosClass, "BestEffort", "fields the kubelet does not own are kept");
        assert.equal(cond(s, "Ready")?.status, "False");
        assert.equal(cond(s, "ContainersReady")?.status, "False");
        assert.equal(cond(s, "Initialized")?.status, "True");
        assert.equal(cond(s, "PodScheduled")?.status, "True");
        const cs = s.containerStatuses![0]!;
        assert.equal(cs.imageID, "registry.example/model@sha256:abc");
        assert.deepEqual(cs.state, { running: { startedAt: t0 } });
        const ready = podStatus(pod(s), view([running(true)]), t1);
        assert.equal(cond(ready, "Ready")?.status, "True");
        assert.equal(cond(ready, "Ready")?.lastTransitionTime, t1);
        assert.equal(cond(ready, "Initialized")?.lastTransitionTime, t0, "unchanged: kept");
    });

    test("an unchanged pod gives the same status (no write)", () => {
        const s = podStatus(pod(), view([running(true)]), t0);
        const again = podStatus(pod(s), view([running(true)]), t1);
        assert.equal(canonicalJson(again), canonicalJson(s));
    });

    test("readiness gates hold Ready back until their condition is True", () => {
        const s = podStatus(pod({}, ["example.com/lb"]), view([running(true)]), t0);
        assert.equal(cond(s, "ContainersReady")?.status, "True");
        assert.equal(cond(s, "Ready")?.status, "False");
        const gated = pod({ conditions: [{ type: "example.com/lb", status: "True" }] }, [
            "example.com/lb",
        ]);
        assert.equal(cond(podStatus(gated, view([running(true)]), t0), "Ready")?.status, "True");
    });

    test("phase: Pending before the first run, Succeeded/Failed only when every container stopped for good", () => {
        const waiting: ContainerView = {
            ...running(false),
            state: { kind: "waiting", reason: "ContainerCreating" },
        };
        const done = (exitCode: number): ContainerView => ({
            ...running(false),
            state: { kind: "terminated", exitCode, reason: "x", startedAt: t0, finishedAt: t1 },
        });
        assert.equal(podPhase(view([waiting])), "Pending");
        assert.equal(podPhase(view([{ ...waiting, restartCount: 1 }])), "Running");
        assert.equal(podPhase(view([done(0), running(true)])), "Running");
        assert.equal(podPhase(view([done(0)])), "Succeeded");
        assert.equal(podPhase(view([done(0), done(1)])), "Failed");
    });
});

describe("kwok stages for kubelet namespaces", () => {
    const stages = [
        "apiVersion: kwok.x-k8s.io/v1alpha1",
        "kind: Stage",
        "metadata: { name: node-initialize }",
        "spec:",
        "  resourceRef: { apiGroup: v1, kind: Node }",
        "  selector:",
        "    matchExpressions:",
        "    - { key: '.status.phase', operator: 'NotIn', values: ['Running'] }",
        "---",
        "apiVersion: kwok.x-k8s.io/v1alpha1",
        "kind: Stage",
        "metadata: { name: pod-ready }",
        "spec:",
        "  resourceRef: { apiGroup: v1, kind: Pod }",
        "  selector:",
        "    matchExpressions:",
        "    - { key: '.metadata.deletionTimestamp', operator: 'DoesNotExist' }",
        "  next:",
        "    statusTemplate: |",
        "      phase: Running",
        "---",
        "apiVersion: kwok.x-k8s.io/v1alpha1",
        "kind: Stage",
        "metadata: { name: pod-delete }",
        "spec:",
        "  resourceRef: { apiGroup: v1, kind: Pod }",
        "  next: { delete: true }",
        "---",
        "",
    ].join("\n");

    test("every Pod stage skips the namespaces, Node stages and templates stay as they were", () => {
        const out = parseAllDocuments(excludeNamespacesFromPodStages(stages, ["kl", "x"])).map(
            (d) => d.toJS() as { metadata: { name: string }; spec: Record<string, unknown> },
        );
        const exclusion = { key: ".metadata.namespace", operator: "NotIn", values: ["kl", "x"] };
        const byName = Object.fromEntries(out.map((d) => [d.metadata.name, d.spec]));
        assert.deepEqual(Object.keys(byName), ["node-initialize", "pod-ready", "pod-delete"]);
        assert.deepEqual(byName["node-initialize"]!.selector, {
            matchExpressions: [{ key: ".status.phase", operator: "NotIn", values: ["Running"] }],
        });
        assert.deepEqual(byName["pod-ready"]!.selector, {
            matchExpressions: [
                { key: ".metadata.deletionTimestamp", operator: "DoesNotExist" },
                exclusion,
            ],
        });
        assert.deepEqual(byName["pod-ready"]!.next, { statusTemplate: "phase: Running\n" });
        assert.deepEqual(byName["pod-delete"]!.selector, { matchExpressions: [exclusion] });
    });
});
