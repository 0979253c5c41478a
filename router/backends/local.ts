/**
 * The local backend (docs/design.md §6): replicas are child processes of a model server that speaks
 * the AML inference-server contract (aml-v1-spec §5) — normally the Python harness, `SERVER_PORT`
 * set per replica. A replica joins the router's ready set only after `GET /` answered 200; one that
 * exits leaves the set at once and is replaced (with backoff) while the service wants it. No
 * orphans: `stop()` stops every child and waits; see process-guard.ts for the parent-death rules.
 */
import { type ChildProcess, spawn } from "node:child_process";
import type { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import pino, { type Logger } from "pino";
import { Problems } from "../../components/common/validation";
import type { Backend, BackendListener, Replica, ServiceDefinition } from "../types";
import { timerDelay } from "../timers";
import { probeHealthy } from "./health";
import { LineCutter } from "./output";
import { allocatePort } from "./ports";
import { guardChild, releaseChild, signalGroup } from "./process-guard";

/** One service the local backend runs. */
export interface LocalServiceSpec {
    readonly definition: ServiceDefinition;
    /** argv of one replica, e.g. `["python3", "runtime/python/amlserver.py", "--entry", "score.py"]`. */
    readonly command: readonly string[];
    /** Added to this process's environment (SERVER_PORT and AMLAKS_* are set by the backend). @default {} */
    readonly env?: Readonly<Record<string, string>>;
    /** Working directory of the replicas. @default this process's cwd */
    readonly cwd?: string;
    /** Address replicas bind to (passed as SERVER_HOST) and the router connects to. @default "127.0.0.1" */
    readonly host?: string;
    /** Time a replica has to answer `GET /` with 200 before it is killed and counted as failed. @default settings.initialDelaySeconds × 1000 */
    readonly readinessTimeoutMs?: number;
    /** Replicas started by `start()`. @default autoscaleMinReplicas, or numReplicas when autoscale is off */
    readonly initialReplicas?: number;
}

export type ReplicaState = "starting" | "ready" | "stopping";

/** A replica as the backend sees it (CLI status, tests). */
export interface LocalReplicaInfo {
    readonly id: string;
    readonly service: string;
    readonly state: ReplicaState;
    readonly pid?: number;
    readonly port?: number;
    readonly url?: string;
}

export interface ReplicaEvent {
    /** starting: spawned; ready: passed the health check; failed: died or timed out unasked; stopped: exited after a stop. */
    readonly type: "starting" | "ready" | "failed" | "stopped";
    readonly service: string;
    readonly replica: string;
    readonly pid?: number;
    readonly port?: number;
    readonly error?: ReplicaFailedError;
}

export interface LocalBackendOptions {
    readonly services: readonly LocalServiceSpec[];
    /** Replica output and lifecycle go here. @default a silent logger */
    readonly logger?: Logger;
    /** Time between SIGTERM and SIGKILL when stopping a replica. @default 10000 */
    readonly stopGraceMs?: number;
    /** Interval between readiness probes of a starting replica. @default 100 */
    readonly readinessPollMs?: number;
    /** First delay before replacing a failed replica; doubles per failure in a row. @default 500 */
    readonly restartBackoffMs?: number;
    /** @default 30000 */
    readonly maxRestartBackoffMs?: number;
    /** A replica ready this long clears the failure count (as Kubernetes does). @default 10000 */
    readonly backoffResetMs?: number;
    /** Lifecycle events (CLI progress). Exceptions are logged and ignored. */
    readonly onReplicaEvent?: (event: ReplicaEvent) => void;
}

/** A replica died or never became ready without being asked to stop. */
export class ReplicaFailedError extends Error {
    constructor(
        readonly service: string,
        readonly replica: string,
        readonly reason: string,
        /** Last lines the replica wrote to stderr (the init() traceback, typically). */
        readonly stderrTail: string,
        readonly exitCode: number | null,
        readonly signal: NodeJS.Signals | null,
    ) {
        super(
            `replica ${replica} of service "${service}" ${reason}` +
                (stderrTail
                    ? `\n--- stderr (last lines) ---\n${stderrTail}`
                    : " (no stderr output)"),
        );
        this.name = "ReplicaFailedError";
    }
}

const STDERR_TAIL_LINES = 40;
const MAX_PORT_CLASHES = 3;
/** After the child exits, how long to wait for the last stderr lines. */
const OUTPUT_FLUSH_MS = 300;
const PORT_CLASH = /EADDRINUSE|address already in use/i;

interface Deferred {
    readonly promise: Promise<void>;
    settled: boolean;
    resolve(): void;
    reject(err: Error): void;
}

function deferred(): Deferred {
    let res!: () => void;
    let rej!: (err: Error) => void;
    const promise = new Promise<void>((resolve, reject) => {
        res = resolve;
        rej = reject;
    });
    // Nobody may be listening (no CLI); the rejection is also logged.
    promise.catch(() => undefined);
    const d: Deferred = {
        promise,
        settled: false,
        resolve: () => {
            if (d.settled) return;
            d.settled = true;
            res();
        },
        reject: (err) => {
            if (d.settled) return;
            d.settled = true;
            rej(err);
        },
    };
    return d;
}

interface ResolvedSpec {
    readonly definition: ServiceDefinition;
    readonly command: readonly string[];
    readonly env: Readonly<Record<string, string>>;
    readonly cwd?: string;
    readonly host: string;
    readonly readinessTimeoutMs: number;
    readonly initialReplicas: number;
}

interface ReplicaRecord {
    readonly id: string;
    readonly seq: number;
    state: ReplicaState | "exited";
    port?: number;
    url?: string;
    pid?: number;
    child?: ChildProcess;
    closed?: Promise<void>;
    startedAt: number;
    readyAt?: number;
    stderrTail: string[];
    /** Set when the backend kills it for not getting ready in time. */
    failReason?: string;
    readonly exited: Promise<void>;
    markExited(): void;
    readonly abort: AbortController;
}

interface ServiceRuntime {
    readonly spec: ResolvedSpec;
    desired: number;
    readonly replicas: Map<string, ReplicaRecord>;
    seq: number;
    failures: number;
    portClashes: number;
    restartTimer?: NodeJS.Timeout;
    everReady: boolean;
    readonly firstReady: Deferred;
    removed: boolean;
}

function isCount(v: unknown): v is number {
    return Number.isInteger(v) && (v as number) >= 0;
}

/** Validates and fills in one service spec; problems go to `p` under `field`. */
function resolveSpec(spec: LocalServiceSpec, field: string, p: Problems): ResolvedSpec {
    const s = (spec ?? {}) as Partial<LocalServiceSpec>;
    const settings = s.definition?.settings;
    if (!s.definition || typeof s.definition.name !== "string" || !settings) {
        p.add(
            `${field}.definition`,
            s.definition?.name,
            "must be a ServiceDefinition with a name and settings",
        );
    }
    if (
        !Array.isArray(s.command) ||
        s.command.length === 0 ||
        s.command.some((a) => typeof a !== "string" || a.length === 0)
    ) {
        p.add(`${field}.command`, s.command, "must be a non-empty argv list of non-empty strings");
    }
    for (const [k, v] of Object.entries(s.env ?? {})) {
        // Values may be secrets: never echo them.
        if (typeof v !== "string") p.add(`${field}.env.${k}`, typeof v, "must be a string");
    }
    if (s.host !== undefined && (typeof s.host !== "string" || s.host.length === 0)) {
        p.add(`${field}.host`, s.host, "must be a host name or IP address");
    }
    if (
        s.readinessTimeoutMs !== undefined &&
        (!Number.isInteger(s.readinessTimeoutMs) || s.readinessTimeoutMs <= 0)
    ) {
        p.add(
            `${field}.readinessTimeoutMs`,
            s.readinessTimeoutMs,
            "must be a whole number of ms > 0",
        );
    }
    if (s.initialReplicas !== undefined && !isCount(s.initialReplicas)) {
        p.add(`${field}.initialReplicas`, s.initialReplicas, "must be a whole number >= 0");
    }
    const initial =
        s.initialReplicas ??
        (settings?.autoscaleEnabled ? settings.autoscaleMinReplicas : settings?.numReplicas) ??
        1;
    return {
        definition: s.definition as ServiceDefinition,
        command: s.command ?? [],
        env: s.env ?? {},
        cwd: s.cwd,
        host: s.host ?? "127.0.0.1",
        readinessTimeoutMs: s.readinessTimeoutMs ?? (settings?.initialDelaySeconds ?? 310) * 1000,
        initialReplicas: initial,
    };
}

/** Replicas as local child processes; see the module comment. */
export class LocalBackend implements Backend {
    readonly kind = "local" as const;
    private readonly services = new Map<string, ServiceRuntime>();
    private readonly usedPorts = new Set<number>();
    private readonly logger: Logger;
    private readonly stopGraceMs: number;
    private readonly readinessPollMs: number;
    private readonly restartBackoffMs: number;
    private readonly maxRestartBackoffMs: number;
    private readonly backoffResetMs: number;
    private readonly onReplicaEvent?: (event: ReplicaEvent) => void;
    private listener?: BackendListener;
    private started = false;
    private stopping?: Promise<void>;

    constructor(opts: LocalBackendOptions) {
        const p = new Problems();
        const specs: ResolvedSpec[] = [];
        if (!Array.isArray(opts?.services)) {
            p.add("services", opts?.services, "must be a list of local service specs");
        } else {
            opts.services.forEach((s, i) => specs.push(resolveSpec(s, `services[${i}]`, p)));
        }
        const seen = new Set<string>();
        for (const s of specs) {
            const name = s.definition?.name;
            if (typeof name === "string" && seen.has(name)) {
                p.add("services", name, "must not list the same service name twice");
            }
            seen.add(name);
        }
        for (const f of [
            "stopGraceMs",
            "readinessPollMs",
            "restartBackoffMs",
            "maxRestartBackoffMs",
            "backoffResetMs",
        ] as const) {
            const v = opts?.[f];
            if (v !== undefined && !isCount(v)) p.add(f, v, "must be a whole number of ms >= 0");
        }
        p.throwIfAny("local backend options");
        this.logger = opts.logger ?? pino({ level: "silent" });
        this.stopGraceMs = opts.stopGraceMs ?? 10_000;
        this.readinessPollMs = timerDelay(Math.max(10, opts.readinessPollMs ?? 100));
        this.restartBackoffMs = opts.restartBackoffMs ?? 500;
        this.maxRestartBackoffMs = opts.maxRestartBackoffMs ?? 30_000;
        this.backoffResetMs = opts.backoffResetMs ?? 10_000;
        this.onReplicaEvent = opts.onReplicaEvent;
        for (const spec of specs) this.services.set(spec.definition.name, this.runtime(spec));
    }

    /** Announces every service to `listener` and starts the initial replicas (does not wait for them). */
    async start(listener: BackendListener): Promise<void> {
        if (this.started) throw new Error("LocalBackend.start() was already called");
        if (this.stopping) throw new Error("LocalBackend was stopped");
        this.started = true;
        this.listener = listener;
        for (const svc of this.services.values()) this.announce(svc);
    }

    /** Adds a service at run time (e.g. a reloaded settings file). */
    addService(spec: LocalServiceSpec): void {
        const p = new Problems();
        const resolved = resolveSpec(spec, "service", p);
        if (resolved.definition && this.services.has(resolved.definition.name)) {
            p.add("service.definition.name", resolved.definition.name, "is already running");
        }
        p.throwIfAny("local service");
        if (this.stopping) throw new Error("LocalBackend was stopped");
        const svc = this.runtime(resolved);
        this.services.set(resolved.definition.name, svc);
        if (this.started) this.announce(svc);
    }

    /** Stops a service's replicas, then tells the listener it is gone. */
    async removeService(name: string): Promise<void> {
        const svc = this.get(name);
        svc.removed = true;
        if (svc.restartTimer) clearTimeout(svc.restartTimer);
        svc.firstReady.reject(
            new Error(`service "${name}" was removed before a replica was ready`),
        );
        this.listener?.onReplicas(name, []);
        await Promise.all([...svc.replicas.values()].map((r) => this.stopReplica(svc, r)));
        this.services.delete(name);
        this.listener?.onServiceRemoved(name);
    }

    currentReplicas(service: string): number {
        const svc = this.get(service);
        return Math.max(svc.desired, this.live(svc));
    }

    /**
     * Converges to `count` replicas. New replicas start in the background (never awaited).
     * When reducing: the victims go first (the router drained them), then replicas that are still
     * starting (no traffic), newest first. Ready replicas the router did not name are never
     * stopped here — they may be serving — so `currentReplicas` can stay above `count` until the
     * next call names them. Resolves once the stopped replicas have exited.
     */
    async scaleTo(service: string, count: number, victims: readonly string[]): Promise<void> {
        const svc = this.get(service);
        if (!isCount(count)) {
            const p = new Problems();
            p.add("count", count, "must be a whole number >= 0");
            p.throwIfAny(`scaleTo(${service})`);
        }
        if (this.stopping || svc.removed) return;
        svc.desired = count;
        const stops: Promise<void>[] = [];
        const named = new Set(victims);
        for (const r of svc.replicas.values()) {
            if (named.has(r.id) && (r.state === "starting" || r.state === "ready")) {
                stops.push(this.stopReplica(svc, r));
            }
        }
        let excess = this.live(svc) - count;
        const starting = [...svc.replicas.values()]
            .filter((r) => r.state === "starting")
            .sort((a, b) => b.seq - a.seq);
        for (const r of starting) {
            if (excess <= 0) break;
            stops.push(this.stopReplica(svc, r));
            excess--;
        }
        if (excess > 0) {
            this.logger.debug(
                { service, keep: excess },
                "local backend: ready replicas not named as victims are kept",
            );
        }
        this.reconcile(svc);
        await Promise.all(stops);
    }

    /**
     * Resolves when the service first has a ready replica. Rejects with a
     * {@link ReplicaFailedError} (stderr tail included) if a replica fails before that — e.g.
     * `init()` raised — so a CLI can exit non-zero. Replacement keeps going in the background.
     */
    firstReady(service: string): Promise<void> {
        return this.get(service).firstReady.promise;
    }

    /** Replicas running or starting (not those already asked to stop), in start order. */
    replicas(service: string): LocalReplicaInfo[] {
        const svc = this.get(service);
        return [...svc.replicas.values()]
            .filter((r) => r.state !== "exited")
            .sort((a, b) => a.seq - b.seq)
            .map((r) => ({
                id: r.id,
                service,
                state: r.state as ReplicaState,
                pid: r.pid,
                port: r.port,
                url: r.url,
            }));
    }

    /** Stops every replica (SIGTERM, SIGKILL after the grace period) and waits for them to exit. */
    stop(): Promise<void> {
        if (this.stopping) return this.stopping;
        const all: Promise<void>[] = [];
        this.stopping = (async () => {
            for (const svc of this.services.values()) {
                if (svc.restartTimer) clearTimeout(svc.restartTimer);
                svc.restartTimer = undefined;
                svc.firstReady.reject(
                    new Error(
                        `service "${svc.spec.definition.name}" was stopped before a replica was ready`,
                    ),
                );
                for (const r of svc.replicas.values()) all.push(this.stopReplica(svc, r));
            }
            await Promise.all(all);
        })();
        return this.stopping;
    }

    // ---- internals ----

    private runtime(spec: ResolvedSpec): ServiceRuntime {
        return {
            spec,
            desired: spec.initialReplicas,
            replicas: new Map(),
            seq: 0,
            failures: 0,
            portClashes: 0,
            everReady: false,
            firstReady: deferred(),
            removed: false,
        };
    }

    private get(service: string): ServiceRuntime {
        const svc = this.services.get(service);
        if (!svc) throw new Error(`local backend: unknown service "${service}"`);
        return svc;
    }

    private announce(svc: ServiceRuntime): void {
        this.listener?.onService(svc.spec.definition);
        this.listener?.onReplicas(svc.spec.definition.name, []);
        this.reconcile(svc);
    }

    private live(svc: ServiceRuntime): number {
        let n = 0;
        for (const r of svc.replicas.values())
            if (r.state === "starting" || r.state === "ready") n++;
        return n;
    }

    private emit(event: ReplicaEvent): void {
        if (!this.onReplicaEvent) return;
        try {
            this.onReplicaEvent(event);
        } catch (err) {
            this.logger.warn({ err }, "local backend: onReplicaEvent hook threw");
        }
    }

    private publish(svc: ServiceRuntime): void {
        if (!this.listener || svc.removed) return;
        const ready: Replica[] = [...svc.replicas.values()]
            .filter((r) => r.state === "ready")
            .sort((a, b) => a.seq - b.seq)
            .map((r) => ({ id: r.id, url: r.url as string }));
        try {
            this.listener.onReplicas(svc.spec.definition.name, ready);
        } catch (err) {
            // A listener bug must not break process supervision.
            this.logger.error(
                { service: svc.spec.definition.name, err },
                "local backend: listener threw",
            );
        }
    }

    /** Starts replicas up to `desired`, at once or after the failure backoff. */
    private reconcile(svc: ServiceRuntime): void {
        if (!this.started || this.stopping || svc.removed) return;
        const now = Date.now();
        for (const r of svc.replicas.values()) {
            if (
                r.state === "ready" &&
                r.readyAt !== undefined &&
                now - r.readyAt >= this.backoffResetMs
            ) {
                svc.failures = 0;
            }
        }
        if (svc.desired - this.live(svc) <= 0 || svc.restartTimer) return;
        if (svc.failures === 0) {
            this.spawnMissing(svc);
            return;
        }
        const delay = Math.min(
            this.maxRestartBackoffMs,
            this.restartBackoffMs * 2 ** Math.min(20, svc.failures - 1),
        );
        this.logger.info(
            { service: svc.spec.definition.name, failures: svc.failures, delayMs: delay },
            "local backend: replacing failed replica after backoff",
        );
        svc.restartTimer = setTimeout(() => {
            svc.restartTimer = undefined;
            this.spawnMissing(svc);
        }, timerDelay(delay));
    }

    private spawnMissing(svc: ServiceRuntime): void {
        if (this.stopping || svc.removed) return;
        for (let missing = svc.desired - this.live(svc); missing > 0; missing--) {
            this.startReplica(svc);
        }
    }

    private startReplica(svc: ServiceRuntime): void {
        const seq = ++svc.seq;
        let markExited!: () => void;
        const exited = new Promise<void>((resolve) => (markExited = resolve));
        const r: ReplicaRecord = {
            id: `${svc.spec.definition.name}-${seq}`,
            seq,
            state: "starting",
            startedAt: Date.now(),
            stderrTail: [],
            exited,
            markExited,
            abort: new AbortController(),
        };
        svc.replicas.set(r.id, r);
        void this.launch(svc, r);
    }

    private async launch(svc: ServiceRuntime, r: ReplicaRecord): Promise<void> {
        const spec = svc.spec;
        const name = spec.definition.name;
        let port: number;
        try {
            port = await allocatePort(spec.host, this.usedPorts);
        } catch (err) {
            this.finish(svc, r, null, null, `could not get a port: ${(err as Error).message}`);
            return;
        }
        if (r.state !== "starting") {
            this.finish(svc, r, null, null); // stopped while waiting for a port
            return;
        }
        r.port = port;
        r.url = `http://${spec.host.includes(":") ? `[${spec.host}]` : spec.host}:${port}`;
        this.usedPorts.add(port);
        const env: NodeJS.ProcessEnv = {
            ...process.env,
            SERVICE_NAME: name,
            ...spec.env,
            SERVER_PORT: String(port),
            SERVER_HOST: spec.host,
            AMLAKS_PARENT_PID: String(process.pid),
            AMLAKS_REPLICA_ID: r.id,
        };
        const [cmd, ...args] = spec.command;
        let child: ChildProcess;
        try {
            child = spawn(cmd, args, {
                cwd: spec.cwd,
                env,
                // stdin: a pipe never written to; EOF tells the replica its parent died.
                stdio: ["pipe", "pipe", "pipe"],
                // Own process group: see process-guard.ts.
                detached: true,
            });
        } catch (err) {
            this.finish(svc, r, null, null, `could not be started: ${(err as Error).message}`);
            return;
        }
        r.child = child;
        r.pid = child.pid;
        r.startedAt = Date.now();
        r.closed = new Promise<void>((resolve) => child.once("close", () => resolve()));
        if (r.pid !== undefined) guardChild(r.pid);
        child.stdin?.on("error", () => undefined);
        const log = this.logger.child({ service: name, replica: r.id });
        this.forward(child.stdout, "stdout", r, log);
        this.forward(child.stderr, "stderr", r, log);

        let gone = false;
        const onGone = async (
            code: number | null,
            signal: NodeJS.Signals | null,
            err?: Error,
        ): Promise<void> => {
            if (gone) return;
            gone = true;
            if (!err) await Promise.race([r.closed, sleep(OUTPUT_FLUSH_MS)]);
            this.finish(
                svc,
                r,
                code,
                signal,
                err ? `could not be started: ${err.message}` : undefined,
            );
        };
        child.once("exit", (code, signal) => void onGone(code, signal));
        child.once("error", (err) => void onGone(null, null, err));
        if (r.pid === undefined) return; // spawn failed: "error" follows

        log.info({ pid: r.pid, port }, `[${r.id}] started (pid ${r.pid}, port ${port})`);
        this.emit({ type: "starting", service: name, replica: r.id, pid: r.pid, port });
        void this.probe(svc, r);
    }

    private forward(
        stream: Readable | null,
        streamName: "stdout" | "stderr",
        r: ReplicaRecord,
        log: Logger,
    ): void {
        if (!stream) return;
        // Bounded lines, control sequences stripped (output.ts): never a whole line in memory.
        const lines = new LineCutter((text) => {
            if (streamName === "stderr") {
                r.stderrTail.push(text);
                if (r.stderrTail.length > STDERR_TAIL_LINES) r.stderrTail.shift();
            }
            log.info({ stream: streamName }, `[${r.id}] ${text}`);
        });
        stream.on("data", (chunk: Buffer) => lines.push(chunk));
        stream.on("end", () => lines.end());
        stream.on("error", () => undefined);
    }

    /** Polls `GET /` until 200 (→ ready), the readiness timeout (→ killed, failed) or exit. */
    private async probe(svc: ServiceRuntime, r: ReplicaRecord): Promise<void> {
        const timeoutMs = svc.spec.readinessTimeoutMs;
        const deadline = r.startedAt + timeoutMs;
        while (r.state === "starting") {
            const ok = await probeHealthy(r.url as string, Math.min(1000, timeoutMs));
            if (r.state !== "starting") return;
            if (ok) {
                this.markReady(svc, r);
                return;
            }
            if (Date.now() >= deadline) {
                r.failReason = `did not answer GET / with 200 within ${timeoutMs} ms`;
                if (r.pid !== undefined) signalGroup(r.pid, "SIGKILL");
                return;
            }
            try {
                await sleep(this.readinessPollMs, undefined, { signal: r.abort.signal });
            } catch {
                return; // aborted: the replica stopped or exited
            }
        }
    }

    private markReady(svc: ServiceRuntime, r: ReplicaRecord): void {
        const name = svc.spec.definition.name;
        r.state = "ready";
        r.readyAt = Date.now();
        svc.everReady = true;
        svc.portClashes = 0;
        svc.firstReady.resolve();
        this.logger.info(
            { service: name, replica: r.id, startMs: r.readyAt - r.startedAt },
            `[${r.id}] ready`,
        );
        this.publish(svc);
        this.emit({ type: "ready", service: name, replica: r.id, pid: r.pid, port: r.port });
        void this.watchLiveness(svc, r);
    }

    /**
     * Liveness, as the kubelet probes a model pod (periodSeconds, timeoutSeconds,
     * failureThreshold): `GET /` every period; after failureThreshold failures in a row the
     * replica leaves the ready set and is replaced. The harness answers 503 while abandoned
     * run() threads pile up (issue 15), so such a replica is recycled.
     */
    private async watchLiveness(svc: ServiceRuntime, r: ReplicaRecord): Promise<void> {
        const s = svc.spec.definition.settings;
        const periodMs = timerDelay((s.periodSeconds ?? 10) * 1000);
        const timeoutMs = timerDelay((s.timeoutSeconds ?? 2) * 1000);
        const threshold = Math.max(1, s.failureThreshold ?? 3);
        let failures = 0;
        while (r.state === "ready") {
            try {
                await sleep(periodMs, undefined, { signal: r.abort.signal });
            } catch {
                return; // stopped or exited
            }
            if (r.state !== "ready") return;
            const ok = await probeHealthy(r.url as string, timeoutMs);
            if (r.state !== "ready") return;
            failures = ok ? 0 : failures + 1;
            if (failures < threshold) continue;
            const name = svc.spec.definition.name;
            const reason = `failed its liveness probe (GET / not 200) ${failures} times in a row; replacing it`;
            const error = new ReplicaFailedError(
                name,
                r.id,
                reason,
                r.stderrTail.join("\n"),
                null,
                null,
            );
            this.reportFailed(r, error, { failures });
            svc.failures++;
            const stopped = this.stopReplica(svc, r);
            this.reconcile(svc);
            await stopped;
            return;
        }
    }

    private async stopReplica(svc: ServiceRuntime, r: ReplicaRecord): Promise<void> {
        if (r.state === "exited") return;
        if (r.state !== "stopping") {
            const wasReady = r.state === "ready";
            r.state = "stopping";
            r.abort.abort();
            if (wasReady) this.publish(svc);
        }
        if (r.pid === undefined) return r.exited; // not spawned yet: launch() finishes it
        const pid = r.pid;
        signalGroup(pid, "SIGTERM");
        const kill = setTimeout(() => {
            this.logger.warn(
                { service: svc.spec.definition.name, replica: r.id, graceMs: this.stopGraceMs },
                `[${r.id}] did not exit after SIGTERM, sending SIGKILL`,
            );
            signalGroup(pid, "SIGKILL");
        }, timerDelay(this.stopGraceMs));
        try {
            await r.exited;
        } finally {
            clearTimeout(kill);
        }
    }

    /** Bookkeeping once a replica is gone, asked or not; replaces it when it was not asked. */
    private finish(
        svc: ServiceRuntime,
        r: ReplicaRecord,
        code: number | null,
        signal: NodeJS.Signals | null,
        startError?: string,
    ): void {
        if (r.state === "exited") return;
        const prev = r.state;
        const name = svc.spec.definition.name;
        r.state = "exited";
        r.abort.abort();
        if (r.pid !== undefined) {
            releaseChild(r.pid);
            signalGroup(r.pid, "SIGKILL", true); // anything the replica left in its group
        }
        if (r.port !== undefined) this.usedPorts.delete(r.port);
        svc.replicas.delete(r.id);
        r.markExited();
        if (prev === "ready") this.publish(svc);

        if (prev === "stopping" || this.stopping || svc.removed) {
            this.logger.info({ service: name, replica: r.id, code, signal }, `[${r.id}] stopped`);
            this.emit({ type: "stopped", service: name, replica: r.id, pid: r.pid, port: r.port });
            return;
        }

        const tail = r.stderrTail.join("\n");
        if (prev === "starting" && PORT_CLASH.test(tail) && svc.portClashes < MAX_PORT_CLASHES) {
            // Lost the race for its port (ports.ts): not the model's fault, retry on a new one.
            svc.portClashes++;
            this.logger.warn(
                { service: name, replica: r.id, port: r.port },
                `[${r.id}] port taken, retrying`,
            );
            this.reconcile(svc);
            return;
        }
        if (
            prev === "ready" &&
            r.readyAt !== undefined &&
            Date.now() - r.readyAt >= this.backoffResetMs
        ) {
            svc.failures = 0;
        }
        svc.failures++;
        const cause =
            startError ??
            r.failReason ??
            (prev === "ready"
                ? signal
                    ? `was killed by ${signal}`
                    : `exited with code ${code}`
                : signal
                  ? `was killed by ${signal} before it was ready`
                  : `exited with code ${code} before it was ready (did init() fail?)`);
        const error = new ReplicaFailedError(name, r.id, cause, tail, code, signal);
        this.reportFailed(r, error, { code, signal, failures: svc.failures });
        if (!svc.everReady) svc.firstReady.reject(error);
        this.reconcile(svc);
    }

    /** One failed replica: logged (with the given context) and announced as a "failed" event. */
    private reportFailed(
        r: { id: string; pid?: number; port?: number },
        error: ReplicaFailedError,
        context: Record<string, unknown>,
    ): void {
        this.logger.error({ service: error.service, replica: r.id, ...context }, error.message);
        this.emit({
            type: "failed",
            service: error.service,
            replica: r.id,
            pid: r.pid,
            port: r.port,
            error,
        });
    }
}
