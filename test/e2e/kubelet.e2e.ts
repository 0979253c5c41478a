/**
 * The test kubelet on a real control plane: pods of namespace "kl" run as real processes, each in
 * a network namespace at its own pod address, with real probes; kwok keeps running the pods of
 * every other namespace. Also the API server restart and the pod-network address of the API.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { POD_CIDR } from "./cluster/control-plane";
import { DEFAULT_IP_RANGE, type Kubelet, startKubelet } from "./cluster/kubelet";
import { hostIdFor } from "./cluster/kubelet-logic";
import { isAlive, readPids } from "./cluster/processes";
import { HOST_SIDE_IP, inCidr } from "./cluster/test-hosts";
import { type E2e, eventually, setupE2e } from "./support";

const NS = "kl";
const PORT = 8000;

let e2e: E2e;
let kubelet: Kubelet | undefined;
let core: k8s.CoreV1Api;
let apps: k8s.AppsV1Api;
let discovery: k8s.DiscoveryV1Api;
let logDir: string;

before(async () => {
    e2e = await setupE2e("kubelet", { pulumi: false, kubeletNamespaces: [NS] });
    core = e2e.kc.makeApiClient(k8s.CoreV1Api);
    apps = e2e.kc.makeApiClient(k8s.AppsV1Api);
    discovery = e2e.kc.makeApiClient(k8s.DiscoveryV1Api);
    await core.createNamespace({ body: { metadata: { name: NS } } });
    // Pods are refused until the service-account controller has made `default` here.
    await eventually("default service account in kl", 30_000, async () =>
        core.readNamespacedServiceAccount({ name: "default", namespace: NS }),
    );
    const www = join(e2e.dir, "www");
    mkdirSync(www);
    writeFileSync(join(www, "index.html"), "served by a pod process\n");
    logDir = join(e2e.dir, "kubelet");
    kubelet = await startKubelet({
        kc: e2e.kc,
        cluster: e2e.cluster,
        namespaces: [NS],
        logDir,
        // The container's own command line is the process, run from a folder with a page.
        commandFor: (_pod, c) => {
            const [command, ...rest] = [...(c.command ?? []), ...(c.args ?? [])];
            return command ? { command, args: rest, cwd: www } : undefined;
        },
    });
});
after(async () => {
    await kubelet?.stop();
    await e2e?.cleanup();
});

/** A container serving `www` with Python's http.server on PORT, probed on "/". */
function httpContainer(extra: Partial<k8s.V1Container> = {}): k8s.V1Container {
    return {
        name: "web",
        image: "registry.e2e.invalid/http:1",
        command: ["python3", "-m", "http.server", String(PORT), "--bind", "0.0.0.0"],
        ports: [{ name: "http", containerPort: PORT }],
        readinessProbe: {
            httpGet: { path: "/", port: "http" },
            periodSeconds: 1,
            timeoutSeconds: 1,
            failureThreshold: 1,
        },
        ...extra,
    };
}

async function createDeployment(name: string, replicas: number, spec: k8s.V1PodSpec) {
    await apps.createNamespacedDeployment({
        namespace: NS,
        body: {
            metadata: { name },
            spec: {
                replicas,
                selector: { matchLabels: { app: name } },
                template: { metadata: { labels: { app: name } }, spec },
            },
        },
    });
    await createService(name);
}

async function createService(name: string): Promise<void> {
    await core.createNamespacedService({
        namespace: NS,
        body: {
            metadata: { name },
            spec: { selector: { app: name }, ports: [{ port: PORT, targetPort: PORT }] },
        },
    });
}

async function podsOf(app: string): Promise<k8s.V1Pod[]> {
    const list = await core.listNamespacedPod({ namespace: NS, labelSelector: `app=${app}` });
    return list.items;
}

async function endpointsOf(service: string): Promise<k8s.V1Endpoint[]> {
    const slices = await discovery.listNamespacedEndpointSlice({
        namespace: NS,
        labelSelector: `kubernetes.io/service-name=${service}`,
    });
    return slices.items.flatMap((s) => s.endpoints ?? []);
}

const isReady = (p: k8s.V1Pod): boolean =>
    p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;

const netnsOf = (ip: string): string => `/run/netns/amlaks-${hostIdFor(ip)}`;

/** The environment a process was started with. */
function environOf(pid: number): Record<string, string> {
    const raw = readFileSync(`/proc/${pid}/environ`, "utf8");
    return Object.fromEntries(
        raw
            .split("\0")
            .filter((kv) => kv.includes("="))
            .map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
    );
}

async function get(url: string): Promise<{ status: number; body: string }> {
    const r = await fetch(url, { signal: AbortSignal.timeout(5000) });
    return { status: r.status, body: await r.text() };
}

describe("test kubelet", () => {
    test("a Deployment of real processes becomes Available, with both pods ready in its EndpointSlice", async () => {
        await core.createNamespacedSecret({
            namespace: NS,
            body: { metadata: { name: "web-secret" }, stringData: { token: "s3cret-value" } },
        });
        await createDeployment("web", 2, {
            containers: [
                httpContainer({
                    env: [
                        { name: "GREETING", value: "hello" },
                        { name: "MESSAGE", value: "$(GREETING) world" },
                        {
                            name: "POD_NAME",
                            valueFrom: { fieldRef: { fieldPath: "metadata.name" } },
                        },
                        { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
                        {
                            name: "SA",
                            valueFrom: { fieldRef: { fieldPath: "spec.serviceAccountName" } },
                        },
                        {
                            name: "TOKEN",
                            valueFrom: { secretKeyRef: { name: "web-secret", key: "token" } },
                        },
                    ],
                }),
            ],
        });
        await eventually("Deployment web Available with 2 ready replicas", 60_000, async () => {
            const d = await apps.readNamespacedDeployment({ name: "web", namespace: NS });
            const available = d.status?.conditions?.some(
                (c) => c.type === "Available" && c.status === "True",
            );
            return available && d.status?.readyReplicas === 2 ? d : undefined;
        });
        const pods = await podsOf("web");
        assert.equal(pods.length, 2);
        const ips = pods.map((p) => p.status!.podIP!);
        assert.equal(new Set(ips).size, 2, `distinct pod IPs: ${ips.join(", ")}`);
        for (const p of pods) {
            const ip = p.status!.podIP!;
            assert.ok(inCidr(ip, DEFAULT_IP_RANGE), `${ip} is from the kubelet's range`);
            assert.equal(p.status?.phase, "Running");
            assert.equal(p.status?.hostIP, "198.18.255.254");
            assert.deepEqual(
                p.status?.podIPs?.map((x) => x.ip),
                [ip],
            );
            const cs = p.status?.containerStatuses?.[0];
            assert.equal(cs?.name, "web");
            assert.equal(cs?.ready, true);
            assert.equal(cs?.started, true);
            assert.equal(cs?.restartCount, 0);
            assert.ok(cs?.state?.running?.startedAt, "running since");
            for (const type of ["PodScheduled", "Initialized", "ContainersReady", "Ready"]) {
                const c: k8s.V1PodCondition | undefined = p.status?.conditions?.find(
                    (x) => x.type === type,
                );
                assert.equal(c?.status, "True", `${p.metadata?.name} ${type}`);
            }
        }
        // The EndpointSlice controller sees what a kubelet would have reported.
        const endpoints = await eventually("both endpoints ready", 30_000, async () => {
            const eps = await endpointsOf("web");
            return eps.length === 2 && eps.every((e) => e.conditions?.ready === true)
                ? eps
                : undefined;
        });
        assert.deepEqual(endpoints.flatMap((e) => e.addresses).sort(), [...ips].sort());
        // Each address is answered by its own pod's process, from the host.
        for (const p of pods) {
            const ip = p.status!.podIP!;
            const name = p.metadata!.name!;
            const r = await get(`http://${ip}:${PORT}/index.html?from=${name}`);
            assert.equal(r.status, 200);
            assert.equal(r.body, "served by a pod process\n");
            await eventually(`${name} logged the request`, 5000, async () =>
                readFileSync(join(logDir, `${name}.log`), "utf8").includes(
                    `"GET /index.html?from=${name} HTTP/1.1" 200`,
                )
                    ? true
                    : undefined,
            );
        }
        // The process got the environment Kubernetes would give the container.
        const first = kubelet!.pods().find((k) => k.name === pods[0]!.metadata!.name)!;
        assert.ok(first.pid, "process running");
        const env = environOf(first.pid);
        assert.equal(env.POD_NAME, first.name);
        assert.equal(env.POD_IP, first.ip);
        assert.equal(env.SA, "default");
        assert.equal(env.TOKEN, "s3cret-value");
        assert.equal(env.MESSAGE, "hello world");
        assert.match(readFileSync(`/proc/${first.pid}/cmdline`, "utf8"), /http\.server/);
    });

    test("pods of other namespaces still become Ready through kwok", async () => {
        await apps.createNamespacedDeployment({
            namespace: "default",
            body: {
                metadata: { name: "simulated" },
                spec: {
                    replicas: 1,
                    selector: { matchLabels: { app: "simulated" } },
                    template: {
                        metadata: { labels: { app: "simulated" } },
                        spec: { containers: [{ name: "c", image: "registry.e2e.invalid/x:1" }] },
                    },
                },
            },
        });
        await eventually("simulated ready", 60_000, async () => {
            const d = await apps.readNamespacedDeployment({
                name: "simulated",
                namespace: "default",
            });
            return d.status?.readyReplicas === 1 ? true : undefined;
        });
        const [pod] = (
            await core.listNamespacedPod({ namespace: "default", labelSelector: "app=simulated" })
        ).items;
        const ip = pod!.status!.podIP!;
        assert.ok(inCidr(ip, POD_CIDR) && !inCidr(ip, DEFAULT_IP_RANGE), `kwok's address ${ip}`);
        assert.ok(!kubelet!.pods().some((p) => p.namespace === "default"), "not the kubelet's");
    });

    test("a hung process turns not ready, is restarted by its liveness probe, and is ready again", async () => {
        await createDeployment("hang", 1, {
            containers: [
                httpContainer({
                    livenessProbe: {
                        httpGet: { path: "/", port: PORT },
                        periodSeconds: 1,
                        timeoutSeconds: 1,
                        failureThreshold: 4,
                    },
                }),
            ],
        });
        const [pod] = await eventually("hang ready", 60_000, async () => {
            const pods = await podsOf("hang");
            return pods.length === 1 && isReady(pods[0]!) ? pods : undefined;
        });
        const name = pod!.metadata!.name!;
        await eventually("endpoint ready", 30_000, async () =>
            (await endpointsOf("hang"))[0]?.conditions?.ready === true ? true : undefined,
        );
        const hung = kubelet!.process(name)!;
        assert.ok(hung.pid, "process running");
        process.kill(hung.pid, "SIGSTOP"); // still accepts connections, answers nothing
        await eventually("pod Ready=False and its endpoint not ready", 15_000, async () => {
            const p = await core.readNamespacedPod({ name, namespace: NS });
            const ep = (await endpointsOf("hang"))[0];
            return !isReady(p) && ep?.conditions?.ready === false ? true : undefined;
        });
        const p = await eventually("restarted once and ready again", 30_000, async () => {
            const cur = await core.readNamespacedPod({ name, namespace: NS });
            const cs = cur.status?.containerStatuses?.[0];
            return cs?.restartCount === 1 && cs.ready && isReady(cur) ? cur : undefined;
        });
        const last = p.status!.containerStatuses![0]!.lastState?.terminated;
        assert.equal(last?.exitCode, 137, "the hung process was SIGKILLed");
        assert.ok(!isAlive(hung.pid), "old process gone");
        const now = kubelet!.process(name)!;
        assert.notEqual(now.pid, hung.pid);
        assert.equal(kubelet!.pods().find((k) => k.name === name)?.restarts, 1);
        // Same test host, same address: the new process answers there.
        assert.equal((await get(`http://${p.status!.podIP}:${PORT}/`)).status, 200);
        await eventually("endpoint ready again", 30_000, async () =>
            (await endpointsOf("hang"))[0]?.conditions?.ready === true ? true : undefined,
        );
    });

    test("a deleted pod keeps serving through its preStop sleep, then is gone with its network namespace", async () => {
        await core.createNamespacedPod({
            namespace: NS,
            body: {
                metadata: { name: "leaver", labels: { app: "leaver" } },
                spec: {
                    terminationGracePeriodSeconds: 10,
                    containers: [
                        httpContainer({ lifecycle: { preStop: { sleep: { seconds: 3 } } } }),
                    ],
                },
            },
        });
        await createService("leaver");
        const pod = await eventually("leaver ready", 60_000, async () => {
            const p = await core.readNamespacedPod({ name: "leaver", namespace: NS });
            return isReady(p) ? p : undefined;
        });
        const ip = pod.status!.podIP!;
        await eventually("endpoint ready", 30_000, async () =>
            (await endpointsOf("leaver"))[0]?.conditions?.ready === true ? true : undefined,
        );
        assert.ok(existsSync(netnsOf(ip)), "its network namespace exists");
        const deletedAt = Date.now();
        await core.deleteNamespacedPod({ name: "leaver", namespace: NS });
        const ep = await eventually("endpoint terminating but serving", 2500, async () => {
            const e = (await endpointsOf("leaver"))[0];
            return e?.conditions?.terminating === true ? e : undefined;
        });
        assert.deepEqual({ ...ep.conditions }, { ready: false, serving: true, terminating: true });
        // Still answering while the preStop sleep runs.
        assert.equal((await get(`http://${ip}:${PORT}/`)).status, 200);
        assert.ok(Date.now() - deletedAt < 3000, "checked within the preStop sleep");
        await eventually("pod gone", 20_000, async () => {
            try {
                await core.readNamespacedPod({ name: "leaver", namespace: NS });
                return undefined;
            } catch (e) {
                return (e as { code?: number }).code === 404 ? true : undefined;
            }
        });
        assert.ok(Date.now() - deletedAt >= 3000, "not before the preStop sleep ended");
        assert.ok(!existsSync(netnsOf(ip)), "its network namespace is removed");
        const log = readFileSync(join(logDir, "leaver.log"), "utf8");
        assert.match(log, /preStop sleep 3000 ms[\s\S]*SIGTERM/);
        await eventually("endpoint removed", 10_000, async () =>
            (await endpointsOf("leaver")).length === 0 ? true : undefined,
        );
    });

    test("after an API server restart, a pod process reaches the API over the pod network as its service account", async () => {
        const before = e2e.cluster.processes.find((p) => p.name === "kube-apiserver")!;
        await e2e.cluster.restartApiServer();
        const after = e2e.cluster.processes.find((p) => p.name === "kube-apiserver")!;
        assert.notEqual(after.pid, before.pid);
        assert.ok(!isAlive(before.pid) && isAlive(after.pid));
        const recorded = readPids(e2e.cluster.stateDir).map((p) => p.pid);
        assert.ok(recorded.includes(after.pid) && !recorded.includes(before.pid), "pids.json");
        await core.listNamespace(); // the API answers again

        await core.createNamespacedServiceAccount({
            namespace: NS,
            body: { metadata: { name: "reader" } },
        });
        // The client reads its kubeconfig (podNetworkServer, pod-bound SA token) and lists pods.
        const script = [
            "import base64, json, os, ssl, tempfile, urllib.error, urllib.request",
            "cfg = json.load(open(os.environ['KUBECONFIG']))",
            "cluster = cfg['clusters'][0]['cluster']",
            "ca = tempfile.NamedTemporaryFile(delete=False, suffix='.crt')",
            "ca.write(base64.b64decode(cluster['certificate-authority-data'])); ca.close()",
            "ctx = ssl.create_default_context(cafile=ca.name)",
            "req = urllib.request.Request(cluster['server'] + '/api/v1/namespaces/kl/pods',",
            "    headers={'Authorization': 'Bearer ' + cfg['users'][0]['user']['token']})",
            "try:",
            "    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:",
            "        print('RESULT', r.status, json.load(r)['kind'], cluster['server'])",
            "except urllib.error.HTTPError as e:",
            "    print('RESULT', e.code, json.load(e)['message'], cluster['server'])",
        ].join("\n");
        const runClient = async (name: string): Promise<string> => {
            await core.createNamespacedPod({
                namespace: NS,
                body: {
                    metadata: { name },
                    spec: {
                        serviceAccountName: "reader",
                        restartPolicy: "Never",
                        containers: [
                            {
                                name: "client",
                                image: "registry.e2e.invalid/client:1",
                                command: ["python3", "-c", script],
                            },
                        ],
                    },
                },
            });
            await eventually(`${name} Succeeded`, 60_000, async () => {
                const p = await core.readNamespacedPod({ name, namespace: NS });
                return p.status?.phase === "Succeeded" ? true : undefined;
            });
            const line = readFileSync(join(logDir, `${name}.log`), "utf8")
                .split("\n")
                .find((l) => l.startsWith("RESULT "));
            assert.ok(line, `${name} printed a result`);
            return line;
        };
        const server = e2e.cluster.podNetworkServer;
        assert.equal(new URL(server).hostname, HOST_SIDE_IP);
        // TLS verified against the cluster CA, token accepted: RBAC names the service account.
        const denied = await runClient("client-denied");
        assert.match(denied, /^RESULT 403 .*"system:serviceaccount:kl:reader" cannot list/);
        assert.ok(denied.endsWith(` ${server}`), denied);

        await e2e.kc.makeApiClient(k8s.RbacAuthorizationV1Api).createNamespacedRole({
            namespace: NS,
            body: {
                metadata: { name: "pod-reader" },
                rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["list"] }],
            },
        });
        await e2e.kc.makeApiClient(k8s.RbacAuthorizationV1Api).createNamespacedRoleBinding({
            namespace: NS,
            body: {
                metadata: { name: "pod-reader" },
                roleRef: {
                    apiGroup: "rbac.authorization.k8s.io",
                    kind: "Role",
                    name: "pod-reader",
                },
                subjects: [{ kind: "ServiceAccount", name: "reader", namespace: NS }],
            },
        });
        assert.match(await runClient("client-allowed"), /^RESULT 200 PodList /);
    });

    test("stop kills every process and removes every test host", async () => {
        const running = kubelet!.pods();
        assert.ok(running.length >= 3, `pods running: ${running.map((p) => p.name).join(", ")}`);
        await kubelet!.stop();
        for (const p of running) {
            if (p.pid !== undefined) assert.ok(!isAlive(p.pid), `${p.name} pid ${p.pid}`);
            assert.ok(!existsSync(netnsOf(p.ip)), `${p.name} network namespace`);
        }
        assert.deepEqual(kubelet!.pods(), []);
        kubelet = undefined;
    });
});
