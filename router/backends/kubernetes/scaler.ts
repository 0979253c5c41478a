/**
 * One autoscaler for N router pods (docs/design.md §5, R29-R34): a router extension that keeps the
 * service definitions it sees from the backend, competes for the scaler Lease, and only while it
 * leads runs an {@link AutoscalerLoop} over the fleet's load ({@link FleetRouting}) and the
 * backend. Each leadership term gets a new loop (fresh scale-down history) and its own peer
 * poller; a term ends — the loop stopped and its actuation awaited — before the next one starts
 * and before the Lease is released, so two scalers never act at once.
 */
import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "pino";
import { Gauge, type Registry } from "prom-client";
import { ROUTER_METRICS_PORT } from "../../../components/cluster/router-rbac";
import { AutoscalerLoop, type AutoscalerLoopOptions } from "../../autoscaler/loop";
import type { RouterExtension, RouterExtensionFactory } from "../../main";
import type { BackendListener, ServiceDefinition } from "../../types";
import { FleetRouting } from "./fleet";
import { kubernetesLeaseStore, LeaseElector, type LeaseStore } from "./lease";
import { KubernetesPeerSource, type PeerSource } from "./peers";

/** Peers that may need starting (a pod watch) for each term. */
export type ManagedPeerSource = PeerSource & {
    start?(): Promise<void>;
    stop?(): Promise<void>;
};

export interface FleetScalerOptions {
    /** The scaler Lease. */
    readonly lease: LeaseStore & { readonly namespace?: string; readonly name?: string };
    /** This router's identity: its pod name. */
    readonly identity: string;
    readonly peers: ManagedPeerSource;
    /** @default 15000 */
    readonly leaseDurationMs?: number;
    /** Elector timing overrides (tests). @default 2/3 and 1/3 of the lease duration */
    readonly renewDeadlineMs?: number;
    readonly retryPeriodMs?: number;
    /** Peer poll period. @default 1000 */
    readonly pollMs?: number;
    /** Peer snapshot lifetime. @default 3 × pollMs */
    readonly expireMs?: number;
    /** Passed to every term's loop. */
    readonly autoscaler?: Pick<
        AutoscalerLoopOptions,
        "scaleDownDelayMs" | "drainTimeoutMs" | "clock" | "onDecision"
    >;
}

/** The extension, with its state visible to callers and tests. */
export interface FleetScalerExtension extends RouterExtension {
    /** True while this router holds the Lease. */
    readonly leading: boolean;
    /** The current term's fleet view (undefined when not leading). */
    readonly fleet: FleetRouting | undefined;
}

interface Term {
    ended: boolean;
    fleet?: FleetRouting;
    loop?: AutoscalerLoop;
}

/** Longest wait for the first list of peer pods at the start of a term. */
const PEER_START_TIMEOUT_MS = 5000;

function withTimeout(p: Promise<void> | undefined, ms: number): Promise<void> {
    if (!p) return Promise.resolve();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    });
    return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** A label-less gauge; `read`, when given, sets it at every scrape. */
function plainGauge(registry: Registry, name: string, help: string, read?: () => number): Gauge {
    const existing = registry.getSingleMetric(name);
    if (existing) return existing as Gauge;
    return new Gauge({
        name,
        help,
        registers: [registry],
        collect() {
            if (read) this.set(read());
        },
    });
}

/** The scaler as a RouterExtensionFactory; see the module comment. */
export function fleetScaler(opts: FleetScalerOptions): RouterExtensionFactory {
    return (ctx): FleetScalerExtension => {
        const backend = ctx.backend;
        if (!backend) throw new Error("the fleet scaler needs a backend to scale");
        const logger = ctx.logger.child({ part: "scaler" });
        const definitions = new Map<string, ServiceDefinition>();
        let term: Term | undefined;
        // Terms start and end strictly one after the other.
        let chain: Promise<void> = Promise.resolve();

        const leader = plainGauge(
            ctx.registry,
            "amlaks_router_scaler_leader",
            "1 while this router holds the scaler Lease and runs the autoscaler, else 0.",
        );
        leader.set(0);
        plainGauge(
            ctx.registry,
            "amlaks_router_peers",
            "Peer routers with a fresh load snapshot (0 when not the scaler).",
            () => term?.fleet?.freshPeers() ?? 0,
        );

        const beginTerm = async (t: Term): Promise<void> => {
            if (t.ended) return;
            try {
                // Bounded: a hung list must not hold up the term (nor its end, nor the release).
                await withTimeout(opts.peers.start?.(), PEER_START_TIMEOUT_MS);
            } catch (err) {
                logger.warn({ err: String(err) }, "scaler: peer discovery did not start");
            }
            const fleet = new FleetRouting({
                local: ctx.router,
                peers: opts.peers,
                selfId: opts.identity,
                pollMs: opts.pollMs,
                expireMs: opts.expireMs,
                logger,
            });
            t.fleet = fleet;
            // The first decision of the term sees the fleet, not just this router.
            await fleet.pollNow();
            if (t.ended) return;
            const loop = new AutoscalerLoop({
                ...opts.autoscaler,
                routing: fleet,
                backend,
                registry: ctx.registry,
                logger: ctx.logger.child({ part: "autoscaler" }),
            });
            for (const d of definitions.values()) loop.setService(d);
            t.loop = loop;
            fleet.start();
            loop.start();
            logger.info({ services: definitions.size }, "scaler: autoscaler running");
        };

        const endTerm = async (t: Term): Promise<void> => {
            const loop = t.loop;
            if (loop) {
                await loop.stop();
                // A follower must not export the last term's desired/current gauges.
                for (const s of loop.services()) loop.removeService(s);
            }
            await t.fleet?.stop();
            try {
                await opts.peers.stop?.();
            } catch (err) {
                logger.warn({ err: String(err) }, "scaler: peer discovery did not stop");
            }
            logger.info("scaler: autoscaler stopped");
        };

        const elector = new LeaseElector({
            store: opts.lease,
            identity: opts.identity,
            leaseDurationMs: opts.leaseDurationMs,
            renewDeadlineMs: opts.renewDeadlineMs,
            retryPeriodMs: opts.retryPeriodMs,
            logger,
            onStartedLeading: () => {
                const t: Term = { ended: false };
                term = t;
                leader.set(1);
                chain = chain
                    .then(() => beginTerm(t))
                    .catch((err: unknown) => {
                        logger.error({ err: String(err) }, "scaler: term did not start");
                    });
            },
            onStoppedLeading: () => {
                const t = term;
                term = undefined;
                leader.set(0);
                if (!t) return chain;
                t.ended = true;
                chain = chain
                    .then(() => endTerm(t))
                    .catch((err: unknown) => {
                        logger.error({ err: String(err) }, "scaler: term did not stop cleanly");
                    });
                return chain;
            },
        });

        return {
            get leading() {
                return elector.isLeader;
            },
            get fleet() {
                return term?.fleet;
            },
            wrapListener(next: BackendListener): BackendListener {
                return {
                    onService: (definition) => {
                        next.onService(definition);
                        definitions.set(definition.name, definition);
                        term?.loop?.setService(definition);
                    },
                    onServiceRemoved: (name) => {
                        next.onServiceRemoved(name);
                        definitions.delete(name);
                        term?.loop?.removeService(name);
                    },
                    onReplicas: (service, replicas) => next.onReplicas(service, replicas),
                };
            },
            start() {
                elector.start();
            },
            async stop() {
                // Ends the term (awaiting any actuation), then releases the Lease.
                await elector.stop();
                await chain;
                leader.set(0);
            },
        };
    };
}

export interface KubernetesFleetScalerOptions {
    readonly kubeConfig: k8s.KubeConfig;
    /** The router namespace (Lease and peer pods). */
    readonly namespace: string;
    /** This pod's name. */
    readonly podName: string;
    /** Where peers answer (their metrics port). @default ROUTER_METRICS_PORT */
    readonly metricsPort?: number;
    /** @default 15000 */
    readonly leaseDurationMs?: number;
    readonly logger?: Logger;
}

/** The fleet scaler of a router pod: the Lease and the peer pods in its namespace. */
export function kubernetesFleetScaler(opts: KubernetesFleetScalerOptions): RouterExtensionFactory {
    const leaseDurationMs = opts.leaseDurationMs ?? 15_000;
    return fleetScaler({
        lease: kubernetesLeaseStore({
            kubeConfig: opts.kubeConfig,
            namespace: opts.namespace,
            // A request may not outlive a retry period (the renew deadline holds two of them).
            timeoutMs: Math.max(1000, Math.floor(leaseDurationMs / 3)),
        }),
        identity: opts.podName,
        leaseDurationMs,
        peers: new KubernetesPeerSource({
            kubeConfig: opts.kubeConfig,
            namespace: opts.namespace,
            selfName: opts.podName,
            port: opts.metricsPort ?? ROUTER_METRICS_PORT,
            logger: opts.logger?.child({ part: "peers" }),
        }),
    });
}
