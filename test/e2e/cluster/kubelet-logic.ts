/**
 * The decisions of the test kubelet (`kubelet.ts`), free of I/O: address allocation, probe
 * settings and results, container environment, restart and termination timing, and the pod status
 * a kubelet reports. Semantics follow the real kubelet where the tests depend on them.
 */
import type * as k8s from "@kubernetes/client-node";

// ---------------------------------------------------------------- addresses

function toInt(addr: string): number {
    return addr.split(".").reduce((n, o) => n * 256 + Number(o), 0);
}

function toAddr(n: number): string {
    return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join(".");
}

/**
 * Test host id for a pod address: "kl" and the last two octets in hex, unique within
 * 198.18.0.0/16 (every pod address is there) and within the 1-8 [a-z0-9] test hosts accept.
 */
export function hostIdFor(addr: string): string {
    const n = toInt(addr) % 65536;
    return `kl${n.toString(16).padStart(4, "0")}`;
}

/**
 * Pod addresses from one CIDR block: never one this pool handed out and not yet released, never
 * one `taken` reports (a test host of another run already there). The search starts at a random
 * offset so concurrent runs on one machine rarely even try the same address.
 */
export class IpPool {
    private readonly first: number;
    private readonly size: number;
    private readonly used = new Set<string>();

    constructor(
        cidr: string,
        private readonly taken: (addr: string) => boolean,
        private readonly random: () => number = Math.random,
    ) {
        const [base, bits] = cidr.split("/");
        const prefix = Number(bits);
        if (!base || !Number.isInteger(prefix) || prefix < 8 || prefix > 30) {
            throw new Error(`ipRange ${cidr}: expected a.b.c.d/8..30`);
        }
        const block = 2 ** (32 - prefix);
        // Network and broadcast addresses of the block are left out, as on a real pod network.
        this.first = toInt(base) - (toInt(base) % block) + 1;
        this.size = block - 2;
    }

    /** A free address; throws when every address of the block is in use. */
    allocate(): string {
        const start = Math.floor(this.random() * this.size);
        for (let i = 0; i < this.size; i++) {
            const addr = toAddr(this.first + ((start + i) % this.size));
            if (this.used.has(addr) || this.taken(addr)) continue;
            this.used.add(addr);
            return addr;
        }
        throw new Error(`no free pod address left in the kubelet's range`);
    }

    release(addr: string): void {
        this.used.delete(addr);
    }
}

// ---------------------------------------------------------------- probes

/** A probe's timing with the Kubernetes API defaults filled in, in milliseconds. */
export interface ProbeTiming {
    readonly initialDelayMs: number;
    readonly periodMs: number;
    readonly timeoutMs: number;
    readonly successThreshold: number;
    readonly failureThreshold: number;
}

export function probeTiming(p: k8s.V1Probe): ProbeTiming {
    return {
        initialDelayMs: (p.initialDelaySeconds ?? 0) * 1000,
        periodMs: (p.periodSeconds ?? 10) * 1000,
        timeoutMs: (p.timeoutSeconds ?? 1) * 1000,
        successThreshold: p.successThreshold ?? 1,
        failureThreshold: p.failureThreshold ?? 3,
    };
}

/** What one probe attempt does. Everything it dials is the pod's own address. */
export type ProbeAction =
    | { readonly kind: "http"; readonly url: string; readonly headers: Record<string, string> }
    | { readonly kind: "tcp"; readonly host: string; readonly port: number }
    | { readonly kind: "exec"; readonly command: readonly string[] };

/** A container port by number or by name (as in `port: "http"`). */
export function resolvePort(port: number | string, container: k8s.V1Container): number {
    if (typeof port === "number") return port;
    if (/^\d+$/.test(port)) return Number(port);
    const found = container.ports?.find((p) => p.name === port);
    if (!found) throw new Error(`container ${container.name} has no port named "${port}"`);
    return found.containerPort;
}

/** The action of a probe; throws for what this kubelet does not do (gRPC, other hosts). */
export function probeAction(
    probe: k8s.V1Probe,
    container: k8s.V1Container,
    podIp: string,
): ProbeAction {
    if (probe.httpGet) {
        const g = probe.httpGet;
        // The kubelet would dial another host; here only the pod's address is on this machine.
        if (g.host && g.host !== podIp) throw new Error(`probe host ${g.host} is not the pod's`);
        const scheme = (g.scheme ?? "HTTP").toLowerCase();
        const path = g.path ? (g.path.startsWith("/") ? g.path : `/${g.path}`) : "/";
        const headers: Record<string, string> = { "user-agent": "kube-probe/amlaks-kubelet" };
        for (const h of g.httpHeaders ?? []) headers[h.name.toLowerCase()] = h.value;
        const port = resolvePort(g.port, container);
        return { kind: "http", url: `${scheme}://${podIp}:${port}${path}`, headers };
    }
    if (probe.tcpSocket) {
        const host = probe.tcpSocket.host;
        if (host && host !== podIp) throw new Error(`probe host ${host} is not the pod's`);
        return { kind: "tcp", host: podIp, port: resolvePort(probe.tcpSocket.port, container) };
    }
    if (probe.exec?.command && probe.exec.command.length > 0) {
        return { kind: "exec", command: probe.exec.command };
    }
    throw new Error("unsupported probe (this kubelet runs httpGet, tcpSocket and exec probes)");
}

/**
 * A probe's current result under its thresholds: it flips to success after `successThreshold`
 * consecutive successes and to failure after `failureThreshold` consecutive failures.
 * Readiness and startup start as failure, liveness as success (as in the kubelet).
 */
export class ProbeResult {
    private current: boolean;
    private run = 0;
    private runOf = false;

    constructor(
        private readonly timing: ProbeTiming,
        initial: boolean,
    ) {
        this.current = initial;
    }

    get ok(): boolean {
        return this.current;
    }

    /** Failures in a row up to now (startup probes give up on this count). */
    get consecutiveFailures(): number {
        return this.runOf ? 0 : this.run;
    }

    /** Records one attempt; returns whether the result changed. */
    record(success: boolean): boolean {
        this.run = success === this.runOf ? this.run + 1 : 1;
        this.runOf = success;
        const needed = success ? this.timing.successThreshold : this.timing.failureThreshold;
        if (success !== this.current && this.run >= needed) {
            this.current = success;
            return true;
        }
        return false;
    }
}

// ---------------------------------------------------------------- environment

/** Where `secretKeyRef`, `configMapKeyRef` and `envFrom` values come from (the API, in tests). */
export interface EnvSources {
    /** The decoded data of a Secret, or undefined if there is none of that name. */
    secret(name: string): Promise<Readonly<Record<string, string>> | undefined>;
    configMap(name: string): Promise<Readonly<Record<string, string>> | undefined>;
}

/** A downward-API field of the pod (the subset the kubelet supports for env). */
export function fieldValue(pod: k8s.V1Pod, fieldPath: string): string {
    const m = pod.metadata ?? {};
    const keyed = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
    if (keyed) return (keyed[1] === "labels" ? m.labels : m.annotations)?.[keyed[2]!] ?? "";
    const fields: Record<string, string | undefined> = {
        "metadata.name": m.name,
        "metadata.namespace": m.namespace,
        "metadata.uid": m.uid,
        "spec.nodeName": pod.spec?.nodeName,
        "spec.serviceAccountName": pod.spec?.serviceAccountName,
        "status.hostIP": pod.status?.hostIP,
        "status.podIP": pod.status?.podIP,
        "status.podIPs": pod.status?.podIPs?.map((p) => p.ip).join(","),
        "status.hostIPs": pod.status?.hostIPs?.map((p) => p.ip).join(","),
    };
    if (!(fieldPath in fields)) throw new Error(`unsupported fieldRef ${fieldPath}`);
    return fields[fieldPath] ?? "";
}

/** `$(NAME)` references to variables defined before, `$$` for a literal `$` (Kubernetes rules). */
export function expandVars(value: string, env: Readonly<Record<string, string>>): string {
    return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (all, name?: string) =>
        all === "$$" ? "$" : name !== undefined && name in env ? env[name]! : all,
    );
}

async function lookup(
    kind: "Secret" | "ConfigMap",
    name: string,
    key: string | undefined,
    optional: boolean | undefined,
    sources: EnvSources,
): Promise<Readonly<Record<string, string>> | string | undefined> {
    const data = await (kind === "Secret" ? sources.secret(name) : sources.configMap(name));
    if (data === undefined) {
        if (optional) return undefined;
        throw new Error(`${kind.toLowerCase()} "${name}" not found`);
    }
    if (key === undefined) return data;
    const value = data[key];
    if (value === undefined && !optional) {
        throw new Error(`couldn't find key ${key} in ${kind} ${name}`);
    }
    return value;
}

/**
 * A container's environment as the kubelet builds it: `envFrom` first, then `env` in order
 * (later entries win, `$(VAR)` expanded against what came before). Throws what would keep the
 * container from starting (CreateContainerConfigError), such as a missing Secret key.
 */
export async function containerEnv(
    pod: k8s.V1Pod,
    container: k8s.V1Container,
    sources: EnvSources,
): Promise<Record<string, string>> {
    const env: Record<string, string> = {};
    for (const from of container.envFrom ?? []) {
        const ref = from.secretRef ?? from.configMapRef;
        if (!ref?.name) continue;
        const kind = from.secretRef ? "Secret" : "ConfigMap";
        const data = await lookup(kind, ref.name, undefined, ref.optional, sources);
        if (typeof data !== "object") continue;
        for (const [k, v] of Object.entries(data)) env[`${from.prefix ?? ""}${k}`] = v;
    }
    for (const e of container.env ?? []) {
        const from = e.valueFrom;
        let value: string | undefined;
        if (!from) value = expandVars(e.value ?? "", env);
        else if (from.fieldRef) value = fieldValue(pod, from.fieldRef.fieldPath);
        else if (from.secretKeyRef) {
            const r = from.secretKeyRef;
            value = (await lookup("Secret", r.name ?? "", r.key, r.optional, sources)) as string;
        } else if (from.configMapKeyRef) {
            const r = from.configMapKeyRef;
            value = (await lookup("ConfigMap", r.name ?? "", r.key, r.optional, sources)) as string;
        } else throw new Error(`env ${e.name}: unsupported valueFrom`);
        if (value !== undefined) env[e.name] = value;
    }
    return env;
}

// ---------------------------------------------------------------- restarts and termination

/**
 * Milliseconds to wait before starting an exited container again, or undefined when its pod's
 * restart policy says it stays down. `quickExits` counts consecutive runs that lasted under
 * 10 s: a container that keeps crashing backs off (1, 2, 4, 8, 10 s), one that ran a while
 * (or was killed by its liveness probe after running) starts again at once.
 */
export function restartDelayMs(
    restartPolicy: string | undefined,
    exitCode: number,
    quickExits: number,
): number | undefined {
    const policy = restartPolicy ?? "Always";
    if (policy === "Never" || (policy === "OnFailure" && exitCode === 0)) return undefined;
    return quickExits <= 0 ? 0 : Math.min(1000 * 2 ** (quickExits - 1), 10_000);
}

/** A run shorter than this counts as a quick exit for the restart backoff. */
export const QUICK_EXIT_MS = 10_000;

/**
 * How a deleted pod's container stops: the preStop sleep (inside the grace period), then SIGTERM
 * and up to `termMs` before SIGKILL; the kubelet grants at least 2 s after a preStop hook.
 */
export function terminationTiming(
    pod: k8s.V1Pod,
    container: k8s.V1Container,
): { readonly preStopMs: number; readonly termMs: number } {
    const grace =
        pod.metadata?.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? 30;
    const sleep = container.lifecycle?.preStop?.sleep?.seconds ?? 0;
    const preStop = Math.min(sleep, grace);
    const term = preStop > 0 ? Math.max(grace - preStop, 2) : grace;
    return { preStopMs: preStop * 1000, termMs: term * 1000 };
}

// ---------------------------------------------------------------- pod status

export type ContainerState =
    | { readonly kind: "waiting"; readonly reason: string; readonly message?: string }
    | { readonly kind: "running"; readonly startedAt: Date }
    | Terminated;

export interface Terminated {
    readonly kind: "terminated";
    readonly exitCode: number;
    readonly signal?: number;
    readonly reason: string;
    readonly startedAt: Date;
    readonly finishedAt: Date;
}

/** What the kubelet knows about one container. */
export interface ContainerView {
    readonly name: string;
    readonly image: string;
    readonly state: ContainerState;
    readonly lastTerminated?: Terminated;
    readonly ready: boolean;
    readonly started: boolean;
    readonly restartCount: number;
    readonly pid?: number;
}

/** What the kubelet knows about one pod. */
export interface PodView {
    readonly ip: string;
    readonly hostIp: string;
    readonly startTime: Date;
    readonly restartPolicy?: string;
    readonly containers: readonly ContainerView[];
}

export type PodPhase = "Pending" | "Running" | "Succeeded" | "Failed";

/**
 * Pending while a container has never run; Succeeded/Failed once every container has stopped for
 * good (only under restartPolicy Never/OnFailure); Running otherwise.
 */
export function podPhase(view: PodView): PodPhase {
    const cs = view.containers;
    if (cs.length > 0 && cs.every((c) => c.state.kind === "terminated")) {
        return cs.every((c) => c.state.kind === "terminated" && c.state.exitCode === 0)
            ? "Succeeded"
            : "Failed";
    }
    const neverRan = (c: ContainerView): boolean =>
        c.state.kind === "waiting" && c.restartCount === 0 && c.lastTerminated === undefined;
    return cs.some(neverRan) ? "Pending" : "Running";
}

function containerStatus(c: ContainerView): k8s.V1ContainerStatus {
    const state = (s: ContainerState): k8s.V1ContainerState => {
        if (s.kind === "running") return { running: { startedAt: s.startedAt } };
        if (s.kind === "waiting") {
            return { waiting: { reason: s.reason, ...(s.message ? { message: s.message } : {}) } };
        }
        return {
            terminated: {
                exitCode: s.exitCode,
                ...(s.signal !== undefined ? { signal: s.signal } : {}),
                reason: s.reason,
                startedAt: s.startedAt,
                finishedAt: s.finishedAt,
            },
        };
    };
    return {
        name: c.name,
        image: c.image,
        // A process has no image; the reference it stands for is the closest truthful answer.
        imageID: c.image,
        ...(c.state.kind === "running" && c.pid !== undefined
            ? { containerID: `amlaks-kubelet://${c.pid}` }
            : {}),
        ready: c.ready,
        started: c.started,
        restartCount: c.restartCount,
        state: state(c.state),
        ...(c.lastTerminated ? { lastState: state(c.lastTerminated) } : {}),
    };
}

const KUBELET_CONDITIONS = [
    "PodReadyToStartContainers",
    "PodScheduled",
    "Initialized",
    "ContainersReady",
    "Ready",
];

/**
 * The status a kubelet writes for `pod` given what it knows. Conditions keep their
 * lastTransitionTime while their status is unchanged; conditions the kubelet does not own
 * (readiness gates) are kept as they are and gate Ready, as in Kubernetes.
 */
export function podStatus(pod: k8s.V1Pod, view: PodView, now: Date): k8s.V1PodStatus {
    const old = pod.status ?? {};
    const containersReady = view.containers.every((c) => c.ready);
    const others = (old.conditions ?? []).filter((c) => !KUBELET_CONDITIONS.includes(c.type));
    const gatesPass = (pod.spec?.readinessGates ?? []).every((g) =>
        others.some((c) => c.type === g.conditionType && c.status === "True"),
    );
    const condition = (type: string, ok: boolean): k8s.V1PodCondition => {
        const status = ok ? "True" : "False";
        const prev = old.conditions?.find((c) => c.type === type);
        return {
            type,
            status,
            lastTransitionTime: prev?.status === status ? prev.lastTransitionTime : now,
        };
    };
    const phase = podPhase(view);
    return {
        ...old,
        phase,
        hostIP: view.hostIp,
        hostIPs: [{ ip: view.hostIp }],
        podIP: view.ip,
        podIPs: [{ ip: view.ip }],
        startTime: view.startTime,
        conditions: [
            // Sandbox (the test host) exists for as long as the pod runs here.
            condition("PodReadyToStartContainers", phase === "Pending" || phase === "Running"),
            condition("Initialized", true),
            condition("ContainersReady", containersReady),
            condition("Ready", containersReady && gatesPass),
            condition("PodScheduled", true),
            ...others,
        ],
        containerStatuses: view.containers.map(containerStatus),
    };
}

/** JSON with sorted keys and without undefined/null members: equal objects, equal text. */
export function canonicalJson(value: unknown): string {
    return JSON.stringify(value, (_key, v: unknown) => {
        if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
        const out: Record<string, unknown> = {};
        for (const k of Object.keys(v).sort()) {
            const member = (v as Record<string, unknown>)[k];
            if (member !== undefined && member !== null) out[k] = member;
        }
        return out;
    });
}
