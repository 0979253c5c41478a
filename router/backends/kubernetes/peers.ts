/**
 * Peer discovery (R21: the router finds the other instances of itself): the scaler learns the
 * other router pods by watching pods with {@link ROUTER_POD_LABELS} in the router namespace
 * (RBAC: pods get/list/watch there, nothing more). A peer is a Ready pod with an IP that is not
 * being deleted and is not this pod; it is reached on the metrics port, never the public one.
 */
import * as k8s from "@kubernetes/client-node";
import pino, { type Logger } from "pino";
import { ROUTER_METRICS_PORT, ROUTER_POD_LABELS } from "../../../components/cluster/router-rbac";

/** Another router pod. */
export interface Peer {
    /** Pod name (= the peer's router id and lease identity). */
    readonly name: string;
    /** Base URL of its metrics listener, e.g. `http://10.244.1.7:9090`. */
    readonly url: string;
}

/** Where the fleet view gets its peers from; tests give a static list. */
export interface PeerSource {
    peers(): Peer[];
}

/** A fixed list of peers (tests, or routers without Kubernetes). */
export function staticPeers(list: readonly Peer[]): PeerSource {
    return { peers: () => [...list] };
}

/** Pure rule: which pods are peers, and where to reach them. */
export function peersFromPods(pods: readonly k8s.V1Pod[], selfName: string, port: number): Peer[] {
    const out: Peer[] = [];
    for (const pod of pods) {
        const name = pod.metadata?.name;
        const ip = pod.status?.podIP;
        if (!name || !ip || name === selfName) continue;
        if (pod.metadata?.deletionTimestamp) continue;
        const ready = pod.status?.conditions?.some(
            (c) => c.type === "Ready" && c.status === "True",
        );
        if (!ready) continue;
        const host = ip.includes(":") ? `[${ip}]` : ip;
        out.push({ name, url: `http://${host}:${port}` });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** `a=b,c=d` for a label map. */
export function labelSelector(labels: Readonly<Record<string, string>>): string {
    return Object.entries(labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(",");
}

export interface KubernetesPeerSourceOptions {
    readonly kubeConfig: k8s.KubeConfig;
    /** The router namespace. */
    readonly namespace: string;
    /** This pod's name (excluded). */
    readonly selfName: string;
    /** @default ROUTER_METRICS_PORT */
    readonly port?: number;
    /** @default ROUTER_POD_LABELS */
    readonly labels?: Readonly<Record<string, string>>;
    /** @default silent */
    readonly logger?: Logger;
}

/** Longest pause before re-watching after an API error. */
const MAX_RETRY_MS = 30_000;

/** Peers from a pod watch in the router namespace. */
export class KubernetesPeerSource implements PeerSource {
    private readonly opts: KubernetesPeerSourceOptions;
    private readonly logger: Logger;
    private informer: k8s.Informer<k8s.V1Pod> & k8s.ObjectCache<k8s.V1Pod>;
    private retryTimer: NodeJS.Timeout | undefined;
    private retryMs = 1000;
    private started = false;

    constructor(opts: KubernetesPeerSourceOptions) {
        this.opts = opts;
        this.logger = opts.logger ?? pino({ level: "silent" });
        const api = opts.kubeConfig.makeApiClient(k8s.CoreV1Api);
        const namespace = opts.namespace;
        const selector = labelSelector(opts.labels ?? ROUTER_POD_LABELS);
        this.informer = k8s.makeInformer(
            opts.kubeConfig,
            `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
            () => api.listNamespacedPod({ namespace, labelSelector: selector }),
            selector,
        );
        this.informer.on("connect", () => {
            this.retryMs = 1000;
        });
        // The informer stops on errors; come back with backoff, keeping the last known peers.
        this.informer.on("error", (err: unknown) => {
            if (!this.started) return;
            this.logger.warn(
                { err: String((err as Error)?.message ?? err), retryInMs: this.retryMs },
                "peers: pod watch failed",
            );
            clearTimeout(this.retryTimer);
            this.retryTimer = setTimeout(() => void this.informer.start(), this.retryMs);
            this.retryMs = Math.min(MAX_RETRY_MS, this.retryMs * 2);
        });
    }

    /** Lists the pods and starts watching; resolves once the first list is in (or failed). */
    async start(): Promise<void> {
        if (this.started) return;
        this.started = true;
        await this.informer.start();
    }

    async stop(): Promise<void> {
        this.started = false;
        clearTimeout(this.retryTimer);
        await this.informer.stop();
    }

    peers(): Peer[] {
        return peersFromPods(
            this.informer.list(this.opts.namespace),
            this.opts.selfName,
            this.opts.port ?? ROUTER_METRICS_PORT,
        );
    }
}
