/**
 * The router's Kubernetes backend (docs/design.md §5, R21): discovers model services by watching,
 * in each watched namespace, the model Deployments, their Services' EndpointSlices and their auth
 * Secrets (the contract of components/webservice/contract.ts), and scales them through the
 * Deployment scale subresource (R29–R32). It uses only the rights of
 * `ROUTER_RBAC.serviceNamespaceRules`.
 *
 * Every watch event marks the state dirty; one reconcile pass (a microtask later, so a re-list's
 * burst is one pass) recomputes the served services from the caches with the pure functions of
 * translate.ts and tells the router only what changed.
 */
import { hostname } from "node:os";
import * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import { NAMESPACE_PATTERN, type WebserviceSettings } from "../../../components/settings";
import {
    MODEL_DEPLOYMENT_LABEL,
    POD_DELETION_COST_ANNOTATION,
    SERVICE_LABEL,
} from "../../../components/webservice/contract";
import { silentLogger } from "../../log";
import type { Backend, BackendListener, Replica, ServiceDefinition } from "../../types";
import {
    authSecretNameOf,
    type DeploymentLike,
    type EndpointSliceLike,
    objectRef,
    readAuth,
    readSettings,
    replicasFromSlices,
    resolveOwners,
    type SecretLike,
    SLICE_SERVICE_NAME_LABEL,
} from "./translate";
import { apiErrorText, EventWriter, rescaleMessage, type ScaleTarget } from "./events";
import { type BackoffMs, ResourceWatch, type WatchedObject } from "./watch";

/** Model Deployments (rendered by `AksWebservice`). */
export const MODEL_DEPLOYMENT_SELECTOR = `${MODEL_DEPLOYMENT_LABEL}=true`;
/** EndpointSlices and Secrets of model services (slices copy their Service's labels). */
export const SERVICE_OBJECT_SELECTOR = SERVICE_LABEL;
/** Lowest int32: the ReplicaSet controller removes pods with this cost before any other. */
export const LOWEST_POD_DELETION_COST = "-2147483648";

export interface KubernetesBackendOptions {
    readonly kubeConfig: k8s.KubeConfig;
    /** Namespaces where model services live (the router's Roles are bound there). */
    readonly namespaces: readonly string[];
    /** @default a silent logger */
    readonly logger?: Logger;
    /** Puts drained victims back in rotation when a scale-down fails (the Router has it). */
    readonly routing?: { undrain(service: string, replicaId: string): boolean };
    /** Re-list backoff after API errors. @default { min: 500, max: 15000 } */
    readonly backoffMs?: BackoffMs;
    /** See {@link VICTIM_CHECK_MS}. @default VICTIM_CHECK_MS */
    readonly victimCheckMs?: number;
    /** See {@link SECRET_GONE_GRACE_MS}. @default SECRET_GONE_GRACE_MS */
    readonly secretGoneGraceMs?: number;
    /** The router pod: `reportingInstance` of the Events it writes. @default the host name */
    readonly instance?: string;
    /** See {@link REPEAT_WARNING_MS}. @default REPEAT_WARNING_MS */
    readonly repeatWarningMs?: number;
}

type Deployment = DeploymentLike & WatchedObject;
type Secret = SecretLike & WatchedObject;
type Slice = EndpointSliceLike & WatchedObject;

interface NamespaceWatches {
    readonly deployments: ResourceWatch<Deployment>;
    readonly secrets: ResourceWatch<Secret>;
    readonly slices: ResourceWatch<Slice>;
}

/** What the router was last told about one service. */
interface Served {
    readonly ownerUid: string;
    readonly namespace: string;
    readonly deployment: string;
    definitionKey: string;
    replicasKey?: string;
    /** spec.replicas as last seen or set. */
    replicas: number;
    /** Set by scaleTo until the watch shows a Deployment at least as new as the scale write. */
    pendingScale?: { readonly count: number; readonly resourceVersion?: string };
}

/** True when resourceVersion `a` is at or after `b` (etcd revisions); unknown forms count as newer. */
function atOrAfter(a: string | undefined, b: string | undefined): boolean {
    if (!a || !b || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return true;
    return BigInt(a) >= BigInt(b);
}

function errorCode(err: unknown): number | undefined {
    const c = (err as { code?: unknown } | null)?.code;
    return typeof c === "number" ? c : undefined;
}

const MERGE_PATCH = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);

/**
 * After a scale-in, how long a drained victim may stay in the ready set before the backend takes
 * it back into rotation: a removed pod turns not-ready as soon as it is deleted, so a victim still
 * ready after this was kept by the ReplicaSet (which may delete a not-ready pod instead).
 */
export const VICTIM_CHECK_MS = 30_000;

/**
 * How long the last keys of a service stay valid after its auth Secret disappeared while its
 * Deployment stayed: a Secret replaced by delete-then-create (what the Pulumi Kubernetes provider
 * does on a data change unless `enableSecretMutable` is set) must not 401 every caller for the
 * moment it is missing. A Secret that stays gone longer is taken as revoked: every key gets 401.
 */
export const SECRET_GONE_GRACE_MS = 30_000;

/** Model services from the Kubernetes API; see the module comment. */
export class KubernetesBackend implements Backend {
    readonly kind = "kubernetes" as const;
    private readonly kc: k8s.KubeConfig;
    private readonly namespaces: readonly string[];
    private readonly logger: Logger;
    private readonly routing?: { undrain(service: string, replicaId: string): boolean };
    private readonly backoffMs?: BackoffMs;
    private readonly apps: k8s.AppsV1Api;
    private readonly core: k8s.CoreV1Api;
    private readonly discovery: k8s.DiscoveryV1Api;
    private readonly events: EventWriter;
    private readonly watches = new Map<string, NamespaceWatches>();
    private readonly served = new Map<string, Served>();
    /** Last valid settings per Deployment uid: an invalid edit keeps serving these. */
    private readonly lastValidSettings = new Map<string, WebserviceSettings>();
    /** Problems and warnings already logged (logged again only after they went away). */
    private readonly reported = new Set<string>();
    private listener?: BackendListener;
    private synced = false;
    private dirty = false;
    private stopped = false;
    private readonly victimChecks = new Set<NodeJS.Timeout>();
    /** Last auth Secret seen per Deployment uid, and when it went missing (SECRET_GONE_GRACE_MS). */
    private readonly lastSecrets = new Map<string, { secret: Secret; goneAt?: number }>();
    private secretGraceTimer: NodeJS.Timeout | undefined;
    private readonly victimCheckMs: number;
    private readonly secretGoneGraceMs: number;

    constructor(opts: KubernetesBackendOptions) {
        const namespaces = [...new Set(opts?.namespaces ?? [])];
        const bad = namespaces.filter((n) => typeof n !== "string" || !NAMESPACE_PATTERN.test(n));
        if (namespaces.length === 0 || bad.length > 0) {
            throw new Error(
                `kubernetes backend: namespaces must be a non-empty list of namespace names (got ${JSON.stringify(opts?.namespaces)})`,
            );
        }
        this.kc = opts.kubeConfig;
        this.namespaces = namespaces;
        this.logger = opts.logger ?? silentLogger();
        this.routing = opts.routing;
        this.backoffMs = opts.backoffMs;
        this.victimCheckMs = opts.victimCheckMs ?? VICTIM_CHECK_MS;
        this.secretGoneGraceMs = opts.secretGoneGraceMs ?? SECRET_GONE_GRACE_MS;
        this.apps = this.kc.makeApiClient(k8s.AppsV1Api);
        this.core = this.kc.makeApiClient(k8s.CoreV1Api);
        this.discovery = this.kc.makeApiClient(k8s.DiscoveryV1Api);
        this.events = new EventWriter(
            this.core,
            opts.instance ?? hostname(),
            this.logger,
            opts.repeatWarningMs,
        );
    }

    /** Watches every namespace; resolves once each first list is in and announced. */
    async start(listener: BackendListener): Promise<void> {
        if (this.listener) throw new Error("kubernetes backend: already started");
        this.listener = listener;
        for (const ns of this.namespaces) this.watches.set(ns, this.watchNamespace(ns));
        const all = [...this.watches.values()].flatMap((w) => [w.deployments, w.secrets, w.slices]);
        for (const w of all) w.start();
        await Promise.all(all.map((w) => w.synced));
        if (this.stopped) throw new Error("kubernetes backend: stopped while starting");
        this.synced = true;
        this.reconcile();
        this.logger.info(
            { namespaces: this.namespaces, services: [...this.served.keys()] },
            "kubernetes backend synced",
        );
    }

    currentReplicas(service: string): number {
        const s = this.served.get(service);
        if (!s) throw new Error(`kubernetes backend: unknown service "${service}"`);
        return s.replicas;
    }

    /**
     * Marks each victim pod with the lowest deletion cost (so the ReplicaSet removes exactly the
     * drained pods), then sets `spec.replicas` through the scale subresource — never an update of
     * the Deployment itself, whose other fields belong to Pulumi. On failure the victims go back
     * in rotation and lose their mark, and the error is rethrown.
     */
    async scaleTo(service: string, count: number, victims: readonly string[]): Promise<void> {
        const s = this.served.get(service);
        if (!s) throw new Error(`kubernetes backend: unknown service "${service}"`);
        if (!Number.isInteger(count) || count < 0) {
            throw new Error(`kubernetes backend: replica count must be a whole number >= 0`);
        }
        const from = s.replicas;
        const marked: string[] = [];
        try {
            for (const pod of victims) {
                if (await this.setDeletionCost(s.namespace, pod, LOWEST_POD_DELETION_COST)) {
                    marked.push(pod);
                }
            }
            const scale = await this.apps.patchNamespacedDeploymentScale(
                { name: s.deployment, namespace: s.namespace, body: { spec: { replicas: count } } },
                MERGE_PATCH,
            );
            s.replicas = count;
            s.pendingScale = { count, resourceVersion: scale.metadata?.resourceVersion };
            this.logger.info(
                { service, namespace: s.namespace, from, to: count, victims },
                "scaled model deployment",
            );
            this.events.write(
                this.scaleTarget(s),
                "SuccessfulRescale",
                rescaleMessage(from, count, victims),
            );
            if (marked.length > 0) this.checkVictimsLater(service, s, marked);
        } catch (err) {
            for (const pod of victims) this.routing?.undrain(service, pod);
            for (const pod of marked) {
                await this.setDeletionCost(s.namespace, pod, null).catch((e: unknown) =>
                    this.logger.warn(
                        { service, pod, err: (e as Error).message },
                        "could not clear pod-deletion-cost after a failed scale",
                    ),
                );
            }
            this.logger.error(
                { service, from, to: count, err: (err as Error).message },
                "scaling model deployment failed",
            );
            this.events.write(
                this.scaleTarget(s),
                "FailedRescale",
                `New size: ${count}; was ${from}; error: ${apiErrorText(err)}`,
            );
            throw err;
        }
    }

    /**
     * A victim that is still a ready replica {@link VICTIM_CHECK_MS} after the scale-in was kept:
     * it goes back into rotation and loses its deletion-cost mark, so it is neither idle forever
     * nor the first pod a later scale-in removes.
     */
    private checkVictimsLater(service: string, s: Served, victims: readonly string[]): void {
        const timer = setTimeout(() => {
            this.victimChecks.delete(timer);
            if (this.stopped || this.served.get(service) !== s) return;
            const ready = new Set(
                (JSON.parse(s.replicasKey ?? "[]") as { id: string }[]).map((r) => r.id),
            );
            for (const pod of victims.filter((v) => ready.has(v))) {
                this.logger.warn(
                    { service, pod },
                    "a drained pod survived the scale-in; it serves again",
                );
                this.events.write(
                    this.scaleTarget(s),
                    "DrainedPodKept",
                    `Pod ${pod} was drained for a scale-in but the ReplicaSet kept it; it serves again`,
                );
                this.routing?.undrain(service, pod);
                this.setDeletionCost(s.namespace, pod, null).catch((e: unknown) =>
                    this.logger.warn(
                        { service, pod, err: (e as Error).message },
                        "could not clear pod-deletion-cost of a surviving pod",
                    ),
                );
            }
        }, this.victimCheckMs);
        timer.unref();
        this.victimChecks.add(timer);
    }

    private scaleTarget(s: Served): ScaleTarget {
        return { namespace: s.namespace, deployment: s.deployment, deploymentUid: s.ownerUid };
    }

    /** Ends every watch; no timer or request is left behind. */
    async stop(): Promise<void> {
        this.stopped = true;
        for (const t of this.victimChecks) clearTimeout(t);
        this.victimChecks.clear();
        if (this.secretGraceTimer) clearTimeout(this.secretGraceTimer);
        this.secretGraceTimer = undefined;
        await Promise.all(
            [...this.watches.values()].flatMap((w) => [
                w.deployments.stop(),
                w.secrets.stop(),
                w.slices.stop(),
            ]),
        );
        await this.events.settled();
    }

    /** Patches the pod's deletion cost (null removes it); false when the pod is gone. */
    private async setDeletionCost(
        namespace: string,
        pod: string,
        cost: string | null,
    ): Promise<boolean> {
        try {
            await this.core.patchNamespacedPod(
                {
                    name: pod,
                    namespace,
                    body: { metadata: { annotations: { [POD_DELETION_COST_ANNOTATION]: cost } } },
                },
                MERGE_PATCH,
            );
            return true;
        } catch (err) {
            if (errorCode(err) === 404) return false; // already gone: nothing to mark
            throw err;
        }
    }

    private watchNamespace(namespace: string): NamespaceWatches {
        const common = {
            kubeConfig: this.kc,
            logger: this.logger.child({ namespace }),
            backoffMs: this.backoffMs,
            handler: { upsert: () => this.markDirty(), remove: () => this.markDirty() },
        };
        return {
            deployments: new ResourceWatch<Deployment>({
                ...common,
                path: `/apis/apps/v1/namespaces/${namespace}/deployments`,
                labelSelector: MODEL_DEPLOYMENT_SELECTOR,
                list: (q) => this.apps.listNamespacedDeployment({ namespace, ...q }),
            }),
            secrets: new ResourceWatch<Secret>({
                ...common,
                path: `/api/v1/namespaces/${namespace}/secrets`,
                labelSelector: SERVICE_OBJECT_SELECTOR,
                list: (q) => this.core.listNamespacedSecret({ namespace, ...q }),
            }),
            slices: new ResourceWatch<Slice>({
                ...common,
                path: `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
                labelSelector: SERVICE_OBJECT_SELECTOR,
                list: (q) => this.discovery.listNamespacedEndpointSlice({ namespace, ...q }),
            }),
        };
    }

    private markDirty(): void {
        if (!this.synced || this.dirty || this.stopped) return;
        this.dirty = true;
        queueMicrotask(() => {
            this.dirty = false;
            if (!this.stopped) this.reconcile();
        });
    }

    /** Logs `text` once while it stays true (`key` groups the texts of one subject). */
    private reportOnce(active: Set<string>, key: string, text: string, log: () => void): void {
        const id = `${key}\u0000${text}`;
        active.add(id);
        if (!this.reported.has(id)) {
            this.reported.add(id);
            log();
        }
    }

    /** Recomputes the served services from the caches and tells the router what changed. */
    private reconcile(): void {
        const deployments: Deployment[] = [];
        const secrets = new Map<string, Secret>();
        const slices = new Map<string, Slice[]>();
        for (const [ns, w] of this.watches) {
            deployments.push(...w.deployments.items());
            for (const s of w.secrets.items()) secrets.set(`${ns}/${s.metadata?.name}`, s);
            for (const slice of w.slices.items()) {
                const svc = slice.metadata?.labels?.[SLICE_SERVICE_NAME_LABEL];
                if (!svc) continue;
                const key = `${ns}/${svc}`;
                slices.set(key, [...(slices.get(key) ?? []), slice]);
            }
        }
        const active = new Set<string>();
        const { owners, conflicts } = resolveOwners(deployments);
        for (const c of conflicts) {
            this.reportOnce(active, `conflict:${c.loser}`, c.winner, () =>
                this.logger.warn(
                    { service: c.service, servedBy: c.winner, ignored: c.loser },
                    `service name "${c.service}" is claimed by two Deployments; ${c.winner} (the older) serves it, ${c.loser} is ignored`,
                ),
            );
        }

        const live = new Set<string>();
        const published = new Set<string>();
        for (const [service, d] of owners) {
            const ns = d.metadata?.namespace ?? "";
            const uid = d.metadata?.uid ?? objectRef(d);
            live.add(uid);
            const read = readSettings(d);
            let settings: WebserviceSettings | undefined;
            if (read.ok) {
                settings = read.settings;
                this.lastValidSettings.set(uid, settings);
                for (const w of read.warnings) {
                    this.reportOnce(active, uid, w, () => this.logger.warn({ service }, w));
                }
            } else {
                settings = this.lastValidSettings.get(uid);
                this.reportOnce(active, uid, read.problem, () =>
                    this.logger.warn(
                        { service, problem: read.problem },
                        settings
                            ? "invalid model service settings; keeping the last valid ones"
                            : "invalid model service settings; the service is not served",
                    ),
                );
            }
            if (!settings) continue;
            const secret = this.secretWithGrace(
                uid,
                service,
                secrets.get(`${ns}/${authSecretNameOf(d, service)}`),
            );
            const { auth, warnings } = readAuth(d, settings, secret);
            for (const w of warnings) {
                this.reportOnce(active, uid, w, () => this.logger.warn({ service }, w));
            }
            const definition: ServiceDefinition = { name: service, settings, auth };
            const replicas = replicasFromSlices(slices.get(`${ns}/${service}`) ?? []);
            this.publish(service, uid, d, definition, replicas);
            published.add(service);
        }

        for (const [service, s] of [...this.served]) {
            if (published.has(service)) continue;
            this.served.delete(service);
            this.call(() => this.listener?.onServiceRemoved(service));
            this.logger.info({ service, namespace: s.namespace }, "model service removed");
        }
        for (const uid of [...this.lastValidSettings.keys()]) {
            if (!live.has(uid)) this.lastValidSettings.delete(uid);
        }
        for (const uid of [...this.lastSecrets.keys()]) {
            if (!live.has(uid)) this.lastSecrets.delete(uid);
        }
        for (const id of [...this.reported]) if (!active.has(id)) this.reported.delete(id);
    }

    /** The Secret to read keys from: the live one, or the last one within its grace period. */
    private secretWithGrace(
        uid: string,
        service: string,
        live: Secret | undefined,
    ): Secret | undefined {
        if (live) {
            this.lastSecrets.set(uid, { secret: live });
            return live;
        }
        const last = this.lastSecrets.get(uid);
        if (!last) return undefined;
        const now = Date.now();
        if (last.goneAt === undefined) {
            last.goneAt = now;
            this.logger.warn(
                { service, graceMs: this.secretGoneGraceMs },
                "auth Secret disappeared; keeping its keys until it is back or the grace period ends",
            );
        }
        const left = last.goneAt + this.secretGoneGraceMs - now;
        if (left <= 0) return undefined;
        // Reconcile again when the grace ends, even if no watch event comes.
        if (!this.secretGraceTimer && !this.stopped) {
            this.secretGraceTimer = setTimeout(() => {
                this.secretGraceTimer = undefined;
                this.markDirty();
            }, left + 10);
            this.secretGraceTimer.unref();
        }
        return last.secret;
    }

    private publish(
        service: string,
        uid: string,
        d: Deployment,
        definition: ServiceDefinition,
        replicas: Replica[],
    ): void {
        const ns = d.metadata?.namespace ?? "";
        let s = this.served.get(service);
        if (s && s.ownerUid !== uid) {
            this.logger.warn(
                { service, from: `${s.namespace}/${s.deployment}`, to: objectRef(d) },
                "model service moved to another Deployment",
            );
            s = undefined;
        }
        const seen = d.spec?.replicas ?? 1;
        if (!s) {
            s = {
                ownerUid: uid,
                namespace: ns,
                deployment: d.metadata?.name ?? service,
                definitionKey: "",
                replicas: seen,
            };
            this.served.set(service, s);
        }
        if (
            s.pendingScale &&
            atOrAfter(d.metadata?.resourceVersion, s.pendingScale.resourceVersion)
        )
            s.pendingScale = undefined;
        s.replicas = s.pendingScale ? s.pendingScale.count : seen;

        const definitionKey = JSON.stringify(definition);
        if (definitionKey !== s.definitionKey) {
            const isNew = s.definitionKey === "";
            s.definitionKey = definitionKey;
            this.call(() => this.listener?.onService(definition));
            if (isNew) {
                this.logger.info(
                    { service, namespace: ns, authMode: definition.auth.mode },
                    "model service discovered",
                );
            }
        }
        const replicasKey = JSON.stringify(replicas);
        if (replicasKey !== s.replicasKey) {
            s.replicasKey = replicasKey;
            this.call(() => this.listener?.onReplicas(service, replicas));
        }
    }

    private call(fn: () => void): void {
        try {
            fn();
        } catch (err) {
            // A listener bug must not stop discovery.
            this.logger.error(
                { err: (err as Error).message },
                "kubernetes backend: listener threw",
            );
        }
    }
}
