/**
 * A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver, kube-controller-manager,
 * kube-scheduler, and kwok for nodes and pod status (there is no kubelet). Binaries come from
 * `scripts/tools/build.sh`; flags follow controller-runtime's envtest where it has them.
 *
 * Address plan: every server binds to 127.0.0.1 on a free port. Pod and Service ranges are in
 * 198.18.0.0/15 (RFC 2544, benchmarking), outside the private ranges: nothing listens there unless
 * a test makes a test host with that address (see `test-hosts.ts`), and nothing is ever sent to an
 * address that is not on this machine.
 */
import * as k8s from "@kubernetes/client-node";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request, type RequestOptions } from "node:https";
import { createServer } from "node:net";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { createPki, IDENTITIES, type Pki, renderKubeconfig } from "./pki";
import { type Forwarder, startForwarder } from "./pod-network";
import {
    isAlive,
    killAllSync,
    startProcess,
    stopAll,
    stopProcess,
    tail,
    type Started,
} from "./processes";
import { HOST_SIDE_IP } from "./test-hosts";
import { CLUSTER_TOOLS, requireTools, type Tools } from "./tools";

/** Pod addresses (kwok assigns them from here); 198.18.128.0/17 is left for host-side addresses. */
export const POD_CIDR = "198.18.0.0/17";
/** ClusterIP range: allocated by the API server, never dialled. */
export const SERVICE_CIDR = "198.19.0.0/16";

export interface ClusterOptions {
    /** Folder for certificates, kubeconfigs, etcd data, logs and the PID file (emptied first). */
    readonly stateDir: string;
    /** Tests: children die with this process. `cluster:up`: children outlive the command. */
    readonly attached: boolean;
    /** Simulated nodes. @default 3 (FastProd spreads the router over 3 nodes) */
    readonly nodes?: number;
    /** How long to wait for readiness. @default 120000 */
    readonly timeoutMs?: number;
    /**
     * Namespaces whose pods kwok leaves alone (no IP, no Ready, no delete): a test kubelet
     * (`kubelet.ts`) runs real processes for them instead.
     */
    readonly kubeletNamespaces?: readonly string[];
}

export interface Cluster {
    readonly stateDir: string;
    readonly server: string;
    /** Admin kubeconfig (cluster-admin through system:masters), certificates inlined. */
    readonly kubeconfigPath: string;
    readonly kubeconfig: string;
    readonly version: string;
    /** The running components (the API server entry changes on `restartApiServer`). */
    readonly processes: readonly Started[];
    /**
     * The API server as processes inside test hosts reach it: https on HOST_SIDE_IP (a forwarder
     * to the 127.0.0.1 port; the serving certificate has this IP), kept across API server restarts.
     * Attached clusters only (the forwarder runs in the process that started the cluster).
     */
    readonly podNetworkServer: string;
    /**
     * Stops kube-apiserver (SIGTERM, waits for exit) and starts it again with the same flags and
     * port; resolves once /readyz answers.
     */
    restartApiServer(): Promise<void>;
    stop(): Promise<void>;
}

export function freePort(): Promise<number> {
    return new Promise((resolve, reject) => {
        const srv = createServer();
        srv.once("error", reject);
        srv.listen(0, "127.0.0.1", () => {
            const addr = srv.address();
            srv.close(() =>
                typeof addr === "object" && addr
                    ? resolve(addr.port)
                    : reject(new Error("no port")),
            );
        });
    });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns a value, a watched process dies, or the time runs out. */
async function waitFor<T>(
    what: string,
    deadline: number,
    watched: readonly Started[],
    check: () => Promise<T | undefined>,
): Promise<T> {
    let last: unknown;
    for (;;) {
        for (const p of watched) {
            if (!isAlive(p.pid)) {
                throw new Error(
                    `${p.name} exited while waiting for ${what}; its log ends:\n${tail(p.log)}`,
                );
            }
        }
        try {
            const v = await check();
            if (v !== undefined) return v;
        } catch (e) {
            last = e;
        }
        if (Date.now() > deadline) {
            const logs = watched.map((p) => `--- ${p.name}\n${tail(p.log, 15)}`).join("\n");
            throw new Error(`timed out waiting for ${what} (last error: ${String(last)})\n${logs}`);
        }
        await sleep(200);
    }
}

function componentKubeconfig(
    pki: Pki,
    server: string,
    stateDir: string,
    name: keyof typeof IDENTITIES,
): string {
    const file = join(stateDir, `${name}.kubeconfig`);
    writeFileSync(file, renderKubeconfig(server, pki.caCert, pki.clients[name]!), { mode: 0o600 });
    return file;
}

/**
 * kwok's stages file with every Pod stage restricted to pods outside `namespaces` (one more
 * selector expression each), so kwok never sets status on, or deletes, those pods.
 */
export function excludeNamespacesFromPodStages(
    stagesYaml: string,
    namespaces: readonly string[],
): string {
    const docs = parseAllDocuments(stagesYaml);
    const out: string[] = [];
    for (const doc of docs) {
        if (!("contents" in doc)) throw new Error(`kwok stages: ${String(doc)}`);
        if (doc.errors.length > 0) throw new Error(`kwok stages: ${doc.errors[0]!.message}`);
        if (doc.toJS() == null) continue; // the empty document after a trailing ---
        if (doc.getIn(["spec", "resourceRef", "kind"]) === "Pod") {
            const path = ["spec", "selector", "matchExpressions"];
            const expression = {
                key: ".metadata.namespace",
                operator: "NotIn",
                values: [...namespaces],
            };
            if (doc.hasIn(path)) doc.addIn(path, doc.createNode(expression));
            else doc.setIn(path, doc.createNode([expression]));
        }
        // Documents after the first keep their own "---"; every one gets one here.
        const text = doc.toString();
        out.push(text.startsWith("---") ? text : `---\n${text}`);
    }
    return out.join("");
}

/** GET /readyz with the admin credentials: true on 200. */
async function apiReady(kc: k8s.KubeConfig, server: string): Promise<boolean> {
    const opts: RequestOptions = { method: "GET", timeout: 5000 };
    await kc.applyToHTTPSOptions(opts);
    return new Promise((resolve, reject) => {
        const req = request(`${server}/readyz`, opts, (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode === 200));
        });
        req.on("timeout", () => req.destroy(new Error("readyz timed out")));
        req.on("error", reject);
        req.end();
    });
}

function nodeObject(name: string): k8s.V1Node {
    return {
        apiVersion: "v1",
        kind: "Node",
        metadata: {
            name,
            annotations: { "node.alpha.kubernetes.io/ttl": "0", "kwok.x-k8s.io/node": "fake" },
            labels: {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/agent": "",
                type: "kwok",
            },
        },
        status: {
            allocatable: { cpu: "8", memory: "32Gi", pods: "110" },
            capacity: { cpu: "8", memory: "32Gi", pods: "110" },
        },
    };
}

/** Starts the control plane and returns when nodes are Ready and pods can be created. */
export async function startCluster(o: ClusterOptions): Promise<Cluster> {
    const tools: Tools = requireTools(CLUSTER_TOOLS);
    const deadline = Date.now() + (o.timeoutMs ?? 120_000);
    const dir = o.stateDir;
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Processes in test hosts reach the API server at HOST_SIDE_IP (see podNetworkServer).
    const pki = createPki(join(dir, "pki"), [HOST_SIDE_IP]);
    const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
    const server = `https://127.0.0.1:${apiPort}`;
    const started: Started[] = [];
    const start = (name: string, command: string, args: string[]): Started => {
        const p = startProcess({ name, command, args, stateDir: dir, attached: o.attached });
        started.push(p);
        return p;
    };
    let forwarder: Forwarder | undefined;
    const stop = async (): Promise<void> => {
        await forwarder?.close();
        forwarder = undefined;
        await stopAll(dir);
    };
    // A failed start must not leave half a cluster behind.
    try {
        const etcdUrl = `http://127.0.0.1:${etcdClient}`;
        const peerUrl = `http://127.0.0.1:${etcdPeer}`;
        const etcd = start("etcd", tools.etcd, [
            `--data-dir=${join(dir, "etcd")}`,
            `--listen-client-urls=${etcdUrl}`,
            `--advertise-client-urls=${etcdUrl}`,
            `--listen-peer-urls=${peerUrl}`,
            `--initial-advertise-peer-urls=${peerUrl}`,
            `--initial-cluster=default=${peerUrl}`,
            "--unsafe-no-fsync",
            "--log-level=warn",
        ]);
        await waitFor("etcd health", deadline, [etcd], async () => {
            const r = await fetch(`${etcdUrl}/health`);
            return r.ok ? true : undefined;
        });

        const apiArgs = [
            `--etcd-servers=${etcdUrl}`,
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            `--secure-port=${apiPort}`,
            `--tls-cert-file=${pki.serverCert}`,
            `--tls-private-key-file=${pki.serverKey}`,
            `--client-ca-file=${pki.caCert}`,
            `--service-account-issuer=https://kubernetes.default.svc.cluster.local`,
            `--service-account-key-file=${pki.serviceAccountPub}`,
            `--service-account-signing-key-file=${pki.serviceAccountKey}`,
            `--service-cluster-ip-range=${SERVICE_CIDR}`,
            "--endpoint-reconciler-type=none",
            "--authorization-mode=RBAC",
            "--allow-privileged=true",
            // Nothing here can act on a Service of type LoadBalancer or serve aggregated APIs.
            "--enable-aggregator-routing=false",
            "--v=0",
        ];
        let api = start("kube-apiserver", tools.kubeApiserver, apiArgs);
        const kc = new k8s.KubeConfig();
        const adminKubeconfig = renderKubeconfig(server, pki.caCert, pki.clients.admin!);
        kc.loadFromString(adminKubeconfig);
        const kubeconfigPath = join(dir, "kubeconfig");
        writeFileSync(kubeconfigPath, adminKubeconfig, { mode: 0o600 });
        const core = kc.makeApiClient(k8s.CoreV1Api);
        const version = kc.makeApiClient(k8s.VersionApi);
        await waitFor("kube-apiserver /readyz", deadline, [etcd, api], async () => {
            const info = await version.getCode();
            // RBAC bootstrap policy must be in place before the other components start.
            await kc
                .makeApiClient(k8s.RbacAuthorizationV1Api)
                .readClusterRole({ name: "system:kube-scheduler" });
            return info;
        });

        // Controller-manager and scheduler: their own identity for everything, one instance (no
        // leader election), no serving port (nothing scrapes them here).
        const componentFlags = (id: "controllerManager" | "scheduler"): string[] => {
            const file = componentKubeconfig(pki, server, dir, id);
            return [
                `--kubeconfig=${file}`,
                `--authentication-kubeconfig=${file}`,
                `--authorization-kubeconfig=${file}`,
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                "--secure-port=0",
            ];
        };
        const cm = start("kube-controller-manager", tools.kubeControllerManager, [
            ...componentFlags("controllerManager"),
            `--service-account-private-key-file=${pki.serviceAccountKey}`,
            `--root-ca-file=${pki.caCert}`,
            "--use-service-account-credentials=true",
            `--cluster-signing-cert-file=${pki.caCert}`,
            `--cluster-signing-key-file=${pki.caKey}`,
            // No cloud: no node IPAM, no service load balancers, no routes.
            "--controllers=*,-nodeipam,-service-lb-controller,-cloud-node-lifecycle,-node-route-controller",
        ]);
        const sched = start("kube-scheduler", tools.kubeScheduler, componentFlags("scheduler"));
        // Pods of kubelet namespaces are the test kubelet's: kwok's pod stages skip them.
        let stages = tools.kwokStages;
        if (o.kubeletNamespaces && o.kubeletNamespaces.length > 0) {
            stages = join(dir, "kwok-stages.yaml");
            writeFileSync(
                stages,
                excludeNamespacesFromPodStages(
                    readFileSync(tools.kwokStages, "utf8"),
                    o.kubeletNamespaces,
                ),
            );
        }
        const kwok = start("kwok", tools.kwok, [
            `--kubeconfig=${componentKubeconfig(pki, server, dir, "kwok")}`,
            `--config=${stages}`,
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            `--cidr=${POD_CIDR}`,
            "--node-ip=198.18.255.254",
            "--node-lease-duration-seconds=40",
            "--server-address=127.0.0.1:0",
        ]);
        const all = [etcd, api, cm, sched, kwok];
        const nodeCount = o.nodes ?? 3;
        for (let i = 0; i < nodeCount; i++) {
            await core.createNode({ body: nodeObject(`kwok-node-${i}`) });
        }
        await waitFor("nodes Ready", deadline, all, async () => {
            const nodes = await core.listNode();
            const ready = nodes.items.filter((n) =>
                n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
            );
            return ready.length === nodeCount ? true : undefined;
        });
        // Pods are refused until the service-account controller has made `default`.
        await waitFor("default service account", deadline, all, async () => {
            await core.readNamespacedServiceAccount({ name: "default", namespace: "default" });
            return true;
        });
        const info = await version.getCode();
        // The forwarder lives in this process: only an attached cluster (tests) has one.
        forwarder = o.attached ? await startForwarder(HOST_SIDE_IP, apiPort) : undefined;
        const podNetworkServer = forwarder && `https://${HOST_SIDE_IP}:${forwarder.port}`;
        const restartApiServer = async (): Promise<void> => {
            const old = api;
            await stopProcess(old);
            api = startProcess({
                name: old.name,
                command: tools.kubeApiserver,
                args: apiArgs,
                stateDir: dir,
                attached: o.attached,
                replaces: old,
            });
            all[all.indexOf(old)] = api;
            const ready = Date.now() + (o.timeoutMs ?? 120_000);
            await waitFor("kube-apiserver /readyz after restart", ready, [etcd, api], async () =>
                (await apiReady(kc, server)) ? true : undefined,
            );
        };
        return {
            stateDir: dir,
            server,
            kubeconfigPath,
            kubeconfig: adminKubeconfig,
            version: info.gitVersion,
            get processes() {
                return [...all];
            },
            get podNetworkServer() {
                if (!podNetworkServer) throw new Error("podNetworkServer: attached clusters only");
                return podNetworkServer;
            },
            restartApiServer,
            stop,
        };
    } catch (e) {
        await stop();
        throw e;
    }
}

/** Exit hooks for a process that owns an attached cluster (interrupts, uncaught errors). */
export function stopOnExit(cluster: Cluster): void {
    process.once("exit", () => killAllSync(cluster.stateDir));
    for (const sig of ["SIGINT", "SIGTERM"] as const) {
        process.once(sig, () => {
            killAllSync(cluster.stateDir);
            process.exit(130);
        });
    }
}
