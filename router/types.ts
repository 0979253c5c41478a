/**
 * Contracts between the parts of the router (docs/design.md §5): the HTTP front (server + routing),
 * the auth module, the autoscaler loop and the backends (local processes, Kubernetes). Each part is
 * built against these interfaces so backends can be swapped without touching routing.
 */
import type { WebserviceSettings } from "../components/settings";

/** A model-server replica that can take traffic (contract: aml-v1-spec §5). */
export interface Replica {
    /** Stable id inside its service (process id, pod name...). */
    readonly id: string;
    /** Base URL of the model server, e.g. `http://127.0.0.1:5001` (no trailing slash). */
    readonly url: string;
}

/** Per-service auth material. May change at run time (key rotation) without a restart. */
export interface ServiceAuthConfig {
    /** Derived from settings: `authMode(settings)`. */
    readonly mode: "none" | "key" | "token";
    /** Key mode: either key is accepted (R36). */
    readonly primaryKey?: string;
    readonly secondaryKey?: string;
    /**
     * Token mode: public keys (JWK) that verify tokens minted by `getToken` for this service,
     * newest first; keep the previous key here until its tokens expire.
     */
    readonly signingPublicKeys?: readonly JsonWebKeyLike[];
    /** Token mode: expected `aud` of tokens minted by `getToken`. */
    readonly audience?: string;
    /** Token mode: expected `iss` of tokens minted by `getToken`. */
    readonly issuer?: string;
    /** Token mode: external OpenID issuers (e.g. Microsoft Entra ID) whose tokens are accepted. */
    readonly oidc?: readonly OidcTrust[];
}

/** A trusted external token issuer, found through OIDC discovery. */
export interface OidcTrust {
    /** Expected `iss`, e.g. `https://login.microsoftonline.com/<tenant>/v2.0`. */
    readonly issuer: string;
    /** Expected `aud`. */
    readonly audience: string;
    /** Discovery document; @default `${issuer}/.well-known/openid-configuration` */
    readonly discoveryUrl?: string;
}

/** Minimal JWK shape (jose's `JWK`), kept local so this file has no dependency. */
export interface JsonWebKeyLike {
    readonly kty: string;
    readonly kid?: string;
    readonly alg?: string;
    readonly [key: string]: unknown;
}

/** A model a service serves, as Azure ML names it: `<name>/<version>` under AZUREML_MODEL_DIR. */
export interface ModelRef {
    readonly name: string;
    readonly version: string;
}

/** Everything the router needs to serve one model web service. */
export interface ServiceDefinition {
    readonly name: string;
    /** Validated settings (`validateWebserviceSettings`), defaults applied. */
    readonly settings: WebserviceSettings;
    readonly auth: ServiceAuthConfig;
    /**
     * The service's models in the order they were given (model data collection files records
     * under the first, docs/observability.md). @default [] (unknown or none)
     */
    readonly models?: readonly ModelRef[];
}

/** Load of one service as the routing table sees it, read by the autoscaler each tick. */
export interface ServiceLoad {
    /** Replicas receiving traffic (ready, not draining). */
    readonly readyReplicas: number;
    /** Ready replicas with at least one request in flight (R32). */
    readonly busyReplicas: number;
    /** Requests in flight on all replicas. */
    readonly inFlight: number;
    /** Requests waiting in the router queue for a free slot. */
    readonly queued: number;
}

/** The routing table as seen by the autoscaler loop and the backends. */
export interface RoutingControl {
    load(service: string): ServiceLoad;
    /** Up to `count` replica ids to remove, idle ones first, then least busy. */
    pickVictims(service: string, count: number): string[];
    /**
     * Stops sending new requests to the replica and resolves once its in-flight requests have
     * finished (or `timeoutMs` passed). After this the backend may stop it without losing work.
     */
    drain(service: string, replicaId: string, timeoutMs: number): Promise<void>;
}

/** Events from a backend to the router. */
export interface BackendListener {
    /** A service appeared or its definition (settings, keys) changed. */
    onService(definition: ServiceDefinition): void;
    onServiceRemoved(name: string): void;
    /** The full set of ready replicas of a service (replaces the previous set). */
    onReplicas(service: string, replicas: readonly Replica[]): void;
}

/** Where replicas live: local processes or Kubernetes Deployments. */
export interface Backend {
    readonly kind: "local" | "kubernetes";
    start(listener: BackendListener): Promise<void>;
    /** Replicas the backend runs or is starting for the service (desired state it converges to). */
    currentReplicas(service: string): number;
    /**
     * Converge the service to `count` replicas. When scaling down, `victims` (already drained by
     * the router) are removed first. Never blocks on replica start-up.
     */
    scaleTo(service: string, count: number, victims: readonly string[]): Promise<void>;
    /** Stops watching; the local backend also stops its processes (no orphans). */
    stop(): Promise<void>;
}
