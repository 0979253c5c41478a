/**
 * A test kubelet: real processes behind the pods of chosen namespaces on the local control plane
 * (kwok leaves those pods alone, see `ClusterOptions.kubeletNamespaces`). Each pod gets an address
 * of its own and a test host (network namespace) there; its containers run as the processes
 * `commandFor` names, with the environment Kubernetes would give them, probed as the spec says.
 * Its status goes to the API the way a kubelet writes it, so Deployments, EndpointSlices and
 * anything watching them behave as on a cluster.
 *
 * Watches pods (list, then watch; re-list after any break), never polls. Decisions live in
 * `kubelet-logic.ts`; this file does the I/O. Logs: `<logDir>/<pod>.log` holds the container
 * output and this kubelet's notes about the pod; `<logDir>/kubelet.log` the rest.
 */
import * as k8s from "@kubernetes/client-node";
import { type ChildProcess, execFile, execFileSync } from "node:child_process";
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect } from "node:net";
import { constants } from "node:os";
import { join } from "node:path";
import type { Cluster } from "./control-plane";
import {
    canonicalJson,
    type ContainerState,
    type ContainerView,
    containerEnv,
    type EnvSources,
    hostIdFor,
    IpPool,
    type ProbeAction,
    probeAction,
    ProbeResult,
    probeTiming,
    podStatus,
    type PodView,
    QUICK_EXIT_MS,
    restartDelayMs,
    type Terminated,
    terminationTiming,
} from "./kubelet-logic";
import { createTestHost, type TestHost } from "./test-hosts";

/** The node address pods report (kwok's `--node-ip`). */
export const KUBELET_HOST_IP = "198.18.255.254";
/** Where pod addresses come from unless `ipRange` says otherwise: inside POD_CIDR, far from kwok's. */
export const DEFAULT_IP_RANGE = "198.18.120.0/21";

/** The process that stands for one container. */
export interface ContainerCommand {
    readonly command: string;
    readonly args: readonly string[];
    /** Added last: wins over the container's own env. */
    readonly env?: Readonly<Record<string, string>>;
    readonly cwd?: string;
}

export interface KubeletOptions {
    /** Admin credentials: the kubelet writes pod status, deletes pods, reads Secrets. */
    readonly kc: k8s.KubeConfig;
    readonly cluster: Cluster;
    /** Namespaces whose scheduled pods this kubelet runs. */
    readonly namespaces: readonly string[];
    /** The process for a container; undefined leaves it not started (pod never Ready). */
    commandFor(pod: k8s.V1Pod, container: k8s.V1Container): ContainerCommand | undefined;
    readonly logDir: string;
    /** @default DEFAULT_IP_RANGE */
    readonly ipRange?: string;
    /**
     * Give processes API access as the pod's service account, as the token mount does on a real
     * node: a pod-bound token (TokenRequest) in a kubeconfig for `cluster.podNetworkServer`,
     * named by `KUBECONFIG`. Skipped when the pod sets `automountServiceAccountToken: false`.
     * @default true
     */
    readonly serviceAccountKubeconfig?: boolean;
}

export interface KubeletPod {
    readonly name: string;
    readonly namespace: string;
    readonly ip: string;
    /** Restarts of all its containers. */
    readonly restarts: number;
    /** The first container's process, while it runs. */
    readonly pid: number | undefined;
}

export interface Kubelet {
    /** Pods running here (with an address). */
    pods(): KubeletPod[];
    /** The current process of a pod's first container (it changes on restart). */
    process(podName: string, namespace?: string): ChildProcess | undefined;
    /** Kills every process, removes every test host, stops watching. Leaves the pods in the API. */
    stop(): Promise<void>;
}

const sleep = (ms: number, signal?: AbortSignal): Promise<boolean> =>
    new Promise((resolve) => {
        if (signal?.aborted) return resolve(false);
        const done = (): void => {
            clearTimeout(t);
            signal?.removeEventListener("abort", done);
            resolve(!signal?.aborted);
        };
        const t = setTimeout(done, ms);
        signal?.addEventListener("abort", done, { once: true });
    });

/** Whether `p` settles within `ms`. */
const within = (p: Promise<unknown>, ms: number): Promise<boolean> =>
    Promise.race([p.then(() => true), sleep(ms).then(() => false)]);

/** API times have whole seconds: so do ours, or every comparison with the API would differ. */
const nowSeconds = (): Date => new Date(Math.floor(Date.now() / 1000) * 1000);

const statusCode = (e: unknown): number | undefined => (e as { code?: number }).code;

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Notes are for people reading logs: losing one (log folder already removed) must not throw. */
function appendLine(file: string, line: string): void {
    try {
        appendFileSync(file, `${line}\n`);
    } catch {
        // the test cleaned up its folder already
    }
}

/** One attempt of a probe from the host (as the kubelet probes from the node). */
function runProbe(action: ProbeAction, netns: string, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
        let settled = false;
        const settle = (ok: boolean): void => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            cleanup();
            resolve(ok);
        };
        let cleanup = (): void => {};
        const timer = setTimeout(() => settle(false), timeoutMs);
        if (action.kind === "http") {
            const send = action.url.startsWith("https:") ? httpsRequest : httpRequest;
            // No keep-alive (as the kubelet): every attempt proves the server accepts anew.
            const req = send(
                action.url,
                { headers: action.headers, agent: false, rejectUnauthorized: false },
                (res) => {
                    res.resume();
                    const code = res.statusCode ?? 0;
                    settle(code >= 200 && code < 400);
                },
            );
            req.on("error", () => settle(false));
            req.end();
            cleanup = () => req.destroy();
        } else if (action.kind === "tcp") {
            const sock = connect(action.port, action.host, () => settle(true));
            sock.on("error", () => settle(false));
            cleanup = () => sock.destroy();
        } else {
            const child = execFile(
                "ip",
                ["netns", "exec", netns, ...action.command],
                { timeout: timeoutMs },
                (err) => settle(!err),
            );
            cleanup = () => child.kill("SIGKILL");
        }
    });
}

/**
 * A kubeconfig for processes in test hosts: `server` (normally `cluster.podNetworkServer`), the
 * cluster CA from `kc`, and a TokenRequest token of the service account, bound to `pod` when given
 * (then it stops working when the pod is deleted).
 */
export async function serviceAccountKubeconfig(
    kc: k8s.KubeConfig,
    server: string,
    o: {
        readonly namespace: string;
        readonly serviceAccountName: string;
        readonly pod?: { readonly name: string; readonly uid: string };
        readonly expirationSeconds?: number;
    },
): Promise<string> {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const tr = await core.createNamespacedServiceAccountToken({
        name: o.serviceAccountName,
        namespace: o.namespace,
        body: {
            spec: {
                audiences: [],
                expirationSeconds: o.expirationSeconds ?? 3600,
                ...(o.pod ? { boundObjectRef: { apiVersion: "v1", kind: "Pod", ...o.pod } } : {}),
            },
        },
    });
    const token = tr.status?.token;
    if (!token)
        throw new Error(`TokenRequest for ${o.namespace}/${o.serviceAccountName}: no token`);
    const ca = kc.getCurrentCluster()?.caData;
    if (!ca) throw new Error("the admin kubeconfig has no inline cluster CA");
    const name = `${o.namespace}-${o.serviceAccountName}`;
    return JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name, cluster: { server, "certificate-authority-data": ca } }],
        users: [{ name, user: { token } }],
        contexts: [{ name, context: { cluster: name, user: name, namespace: o.namespace } }],
        "current-context": name,
    });
}

/** One container of a pod: its process across restarts, and its probes. */
class Container {
    state: ContainerState = { kind: "waiting", reason: "ContainerCreating" };
    lastTerminated: Terminated | undefined;
    restartCount = 0;
    child: ChildProcess | undefined;
    private quickExits = 0;
    private readiness: ProbeResult | undefined;
    private liveness: ProbeResult | undefined;
    private startup: ProbeResult | undefined;
    /** All probes of the current run / liveness and startup only (they end on deletion). */
    private probes: AbortController | undefined;
    private lifeProbes: AbortController | undefined;
    private timer: NodeJS.Timeout | undefined;
    private exited: Promise<void> = Promise.resolve();
    /** Set once the pod is going away: no more starts. */
    private stopping = false;

    constructor(
        private readonly pod: PodRunner,
        readonly spec: k8s.V1Container,
    ) {}

    private get started(): boolean {
        return this.state.kind === "running" && (this.startup?.ok ?? true);
    }

    view(): ContainerView {
        return {
            name: this.spec.name,
            image: this.spec.image ?? "",
            state: this.state,
            ...(this.lastTerminated ? { lastTerminated: this.lastTerminated } : {}),
            ready: this.started && (this.readiness?.ok ?? true),
            started: this.started,
            restartCount: this.restartCount,
            ...(this.child?.pid !== undefined ? { pid: this.child.pid } : {}),
        };
    }

    async start(): Promise<void> {
        this.timer = undefined;
        if (this.stopping) return;
        let cmd: ContainerCommand | undefined;
        try {
            cmd = this.pod.kubelet.commandFor(this.pod.pod, this.spec);
        } catch (e) {
            this.pod.note(`${this.spec.name}: commandFor failed: ${message(e)}`);
        }
        if (!cmd) {
            // Not retried: commandFor answers from the spec, which does not change.
            this.state = {
                kind: "waiting",
                reason: "CreateContainerConfigError",
                message: "the test kubelet has no command for this container",
            };
            this.pod.sync();
            return;
        }
        let env: Record<string, string>;
        try {
            env = { ...(await this.pod.environment(this.spec)), ...cmd.env };
        } catch (e) {
            // As the kubelet: the container waits, and its start is tried again.
            this.state = {
                kind: "waiting",
                reason: "CreateContainerConfigError",
                message: message(e),
            };
            this.pod.note(`${this.spec.name}: cannot start: ${message(e)}`);
            this.pod.sync();
            if (!this.stopping) this.timer = setTimeout(() => void this.start(), 2000);
            return;
        }
        if (this.stopping || !this.pod.host) return;
        const child = this.pod.host.run(cmd.command, cmd.args, env, {
            cwd: cmd.cwd,
            log: this.pod.logFile,
        });
        const startedAt = nowSeconds();
        const startedMs = Date.now();
        this.child = child;
        this.state = { kind: "running", startedAt };
        this.pod.note(`${this.spec.name}: started pid ${child.pid} (${cmd.command})`);
        this.exited = new Promise((resolve) => {
            let done = false;
            const end = (code: number | null, signal: NodeJS.Signals | null): void => {
                if (done) return;
                done = true;
                this.onExit(startedAt, startedMs, code, signal);
                resolve();
            };
            child.once("exit", end);
            child.once("error", (e) => {
                this.pod.note(`${this.spec.name}: ${message(e)}`);
                end(128, null); // the runtime's "StartError" code
            });
        });
        this.startProbes();
        this.pod.sync();
    }

    private onExit(
        startedAt: Date,
        startedMs: number,
        code: number | null,
        signal: NodeJS.Signals | null,
    ): void {
        this.stopProbes();
        this.child = undefined;
        const signo = signal ? constants.signals[signal] : undefined;
        const exitCode = code ?? 128 + (signo ?? 0);
        const terminated: Terminated = {
            kind: "terminated",
            exitCode,
            ...(signo !== undefined ? { signal: signo } : {}),
            reason: exitCode === 0 ? "Completed" : "Error",
            startedAt,
            finishedAt: nowSeconds(),
        };
        this.pod.note(`${this.spec.name}: exited with ${code ?? signal}`);
        this.quickExits = Date.now() - startedMs < QUICK_EXIT_MS ? this.quickExits + 1 : 0;
        // A deleted pod's containers stay down; otherwise the restart policy decides.
        const policy = this.pod.pod.spec?.restartPolicy;
        const delay = this.stopping ? undefined : restartDelayMs(policy, exitCode, this.quickExits);
        if (delay === undefined) {
            this.state = terminated;
        } else {
            this.lastTerminated = terminated;
            this.restartCount++;
            this.state = {
                kind: "waiting",
                reason: delay > 0 ? "CrashLoopBackOff" : "ContainerCreating",
            };
            this.pod.note(`${this.spec.name}: restart #${this.restartCount} in ${delay} ms`);
            this.timer = setTimeout(() => void this.start(), delay);
        }
        this.pod.sync();
    }

    private startProbes(): void {
        this.probes = new AbortController();
        this.lifeProbes = new AbortController();
        const all = this.probes.signal;
        const life = AbortSignal.any([all, this.lifeProbes.signal]);
        const { readinessProbe, livenessProbe, startupProbe } = this.spec;
        const timing = (p: k8s.V1Probe | undefined): ProbeResult | undefined =>
            p && new ProbeResult(probeTiming(p), false);
        this.readiness = timing(readinessProbe);
        this.startup = timing(startupProbe);
        this.liveness = livenessProbe && new ProbeResult(probeTiming(livenessProbe), true);
        const afterStartup = (): void => {
            if (readinessProbe) void this.probeLoop("readiness", readinessProbe, all);
            if (livenessProbe) void this.probeLoop("liveness", livenessProbe, life);
        };
        if (startupProbe) {
            void this.probeLoop("startup", startupProbe, life).then((ok) => {
                if (ok) afterStartup();
            });
        } else afterStartup();
    }

    private stopProbes(): void {
        this.probes?.abort();
        this.probes = undefined;
    }

    /**
     * Probes until `signal` aborts; a startup probe returns true once it succeeds. Liveness or
     * startup failing (past the threshold) kills the process: the exit handler restarts it.
     */
    private async probeLoop(
        kind: "readiness" | "liveness" | "startup",
        probe: k8s.V1Probe,
        signal: AbortSignal,
    ): Promise<boolean> {
        const result =
            kind === "readiness"
                ? this.readiness
                : kind === "liveness"
                  ? this.liveness
                  : this.startup;
        if (!result || !this.pod.ip || !this.pod.host) return false;
        const timing = probeTiming(probe);
        let action: ProbeAction;
        try {
            action = probeAction(probe, this.spec, this.pod.ip);
        } catch (e) {
            this.pod.note(`${this.spec.name}: ${kind} probe: ${message(e)}`);
            return false;
        }
        if (!(await sleep(timing.initialDelayMs, signal))) return false;
        const netns = this.pod.host.namespace;
        for (;;) {
            const ok = await runProbe(action, netns, timing.timeoutMs);
            if (signal.aborted) return false;
            const changed = result.record(ok);
            if (kind === "readiness" && changed) {
                this.pod.note(`${this.spec.name}: ready=${result.ok}`);
                this.pod.sync();
            }
            if (kind === "startup" && result.ok) {
                this.pod.sync();
                return true;
            }
            const failed =
                kind === "liveness"
                    ? changed && !result.ok
                    : kind === "startup" && result.consecutiveFailures >= timing.failureThreshold;
            if (failed) {
                this.pod.note(`${this.spec.name}: ${kind} probe failed; killing`);
                this.child?.kill("SIGKILL");
                return false;
            }
            if (!(await sleep(timing.periodMs, signal))) return false;
        }
    }

    /**
     * Graceful stop of a deleted pod's container: liveness/startup probes end, readiness goes on,
     * preStop sleep, SIGTERM, SIGKILL after the rest of the grace period. Ready is left to the
     * readiness probe, as the kubelet does: the EndpointSlice then shows the endpoint
     * `ready: false, serving: true, terminating: true` while it still answers, which is what lets
     * a router drain it without failing requests (R20: router restarts must not affect requests).
     */
    async stop(timing: { readonly preStopMs: number; readonly termMs: number }): Promise<void> {
        this.stopping = true;
        clearTimeout(this.timer);
        this.lifeProbes?.abort();
        const child = this.child;
        if (!child) return;
        if (timing.preStopMs > 0) {
            this.pod.note(`${this.spec.name}: preStop sleep ${timing.preStopMs} ms`);
            if (await within(this.exited, timing.preStopMs)) return;
        }
        this.pod.note(`${this.spec.name}: SIGTERM, ${timing.termMs} ms before SIGKILL`);
        child.kill("SIGTERM");
        if (await within(this.exited, timing.termMs)) return;
        this.pod.note(`${this.spec.name}: SIGKILL after the grace period`);
        child.kill("SIGKILL");
        await within(this.exited, 5000);
    }

    /** At once: no grace (the pod is gone from the API, or the kubelet stops). */
    async kill(): Promise<void> {
        this.stopping = true;
        clearTimeout(this.timer);
        this.stopProbes();
        this.child?.kill("SIGKILL");
        await within(this.exited, 5000);
    }
}

/** One pod running here: its address, test host, containers and status writes. */
class PodRunner {
    pod: k8s.V1Pod;
    readonly uid: string;
    readonly name: string;
    readonly namespace: string;
    readonly logFile: string;
    ip: string | undefined;
    host: TestHost | undefined;
    readonly containers: Container[];
    private startTime = nowSeconds();
    private kubeconfig: string | undefined;
    private starting: Promise<void> = Promise.resolve();
    private terminating = false;
    private gone = false;
    private dirty = false;
    private writing = false;

    constructor(
        readonly kubelet: KubeletImpl,
        pod: k8s.V1Pod,
    ) {
        this.pod = pod;
        this.uid = pod.metadata!.uid!;
        this.name = pod.metadata!.name!;
        this.namespace = pod.metadata!.namespace!;
        this.logFile = join(kubelet.logDir, `${this.name}.log`);
        this.containers = (pod.spec?.containers ?? []).map((c) => new Container(this, c));
    }

    note(line: string): void {
        appendLine(this.logFile, `[kubelet ${new Date().toISOString()}] ${line}`);
    }

    start(): void {
        this.starting = this.doStart().catch((e: unknown) => {
            this.note(`cannot run the pod: ${message(e)}`);
        });
    }

    private async doStart(): Promise<void> {
        // An address another run's test host holds makes createTestHost fail: try another.
        for (let attempt = 0; !this.host; attempt++) {
            const ip = this.kubelet.pool.allocate();
            try {
                this.host = createTestHost(hostIdFor(ip), ip);
                this.ip = ip;
            } catch (e) {
                this.kubelet.pool.release(ip);
                if (attempt >= 3) throw e;
            }
        }
        this.startTime = nowSeconds();
        this.note(`pod ${this.namespace}/${this.name} at ${this.ip} (${this.host.namespace})`);
        this.sync();
        for (const c of this.containers) await c.start();
    }

    /** The pod as its containers' downward API sees it (our address, before the API has it). */
    private downward(): k8s.V1Pod {
        return {
            ...this.pod,
            status: {
                ...this.pod.status,
                podIP: this.ip,
                podIPs: [{ ip: this.ip! }],
                hostIP: KUBELET_HOST_IP,
                hostIPs: [{ ip: KUBELET_HOST_IP }],
            },
        };
    }

    async environment(spec: k8s.V1Container): Promise<Record<string, string>> {
        const base: Record<string, string> = {
            PATH: process.env.PATH ?? "/usr/bin:/bin",
            HOME: process.env.HOME ?? "/",
            HOSTNAME: this.name,
        };
        const k = this.kubelet;
        if (k.serviceAccountKubeconfig && this.pod.spec?.automountServiceAccountToken !== false) {
            this.kubeconfig ??= await this.writeKubeconfig();
            base.KUBECONFIG = this.kubeconfig;
        }
        return {
            ...base,
            ...(await containerEnv(this.downward(), spec, k.envSources(this.namespace))),
        };
    }

    private async writeKubeconfig(): Promise<string> {
        const text = await serviceAccountKubeconfig(
            this.kubelet.kc,
            this.kubelet.cluster.podNetworkServer,
            {
                namespace: this.namespace,
                serviceAccountName: this.pod.spec?.serviceAccountName ?? "default",
                pod: { name: this.name, uid: this.uid },
            },
        );
        const file = join(this.kubelet.logDir, `${this.name}.kubeconfig`);
        writeFileSync(file, text, { mode: 0o600 });
        return file;
    }

    view(): PodView {
        return {
            ip: this.ip!,
            hostIp: KUBELET_HOST_IP,
            startTime: this.startTime,
            restartPolicy: this.pod.spec?.restartPolicy,
            containers: this.containers.map((c) => c.view()),
        };
    }

    /** A newer version of the pod from the watch. */
    update(pod: k8s.V1Pod): void {
        this.pod = pod;
        if (pod.metadata?.deletionTimestamp) void this.terminate();
    }

    /** Asks for a status write; writes are serialized and coalesced. */
    sync(): void {
        if (!this.ip || this.gone) return;
        this.dirty = true;
        if (!this.writing) void this.writeLoop();
    }

    private async writeLoop(): Promise<void> {
        this.writing = true;
        let backoff = 100;
        try {
            while (this.dirty && !this.gone) {
                this.dirty = false;
                try {
                    if (!(await this.writeStatus())) return;
                    backoff = 100;
                } catch (e) {
                    const code = statusCode(e);
                    if (code === 404) return;
                    this.dirty = true;
                    if (code === 409) continue; // someone wrote in between: read and apply again
                    await sleep(backoff, this.kubelet.life);
                    backoff = Math.min(backoff * 2, 5000);
                }
            }
        } finally {
            this.writing = false;
        }
    }

    /** Writes the status if it differs from the API's; false when the pod is gone. */
    private async writeStatus(): Promise<boolean> {
        const core = this.kubelet.core;
        const current = await core.readNamespacedPod({
            name: this.name,
            namespace: this.namespace,
        });
        if (current.metadata?.uid !== this.uid) return false;
        const status = podStatus(current, this.view(), nowSeconds());
        if (canonicalJson(status) === canonicalJson(current.status)) return true;
        await core.replaceNamespacedPodStatus({
            name: this.name,
            namespace: this.namespace,
            body: { ...current, status },
        });
        return true;
    }

    /** The pod was deleted (graceful): stop its containers, tear down, remove it from the API. */
    async terminate(): Promise<void> {
        if (this.terminating) return;
        this.terminating = true;
        await this.starting;
        const grace =
            this.pod.metadata?.deletionGracePeriodSeconds ??
            this.pod.spec?.terminationGracePeriodSeconds;
        this.note(`deleted (grace ${grace ?? 30} s): stopping`);
        await Promise.all(this.containers.map((c) => c.stop(terminationTiming(this.pod, c.spec))));
        this.teardown();
        await this.kubelet.deleteFromApi(this.pod);
        this.kubelet.forget(this);
    }

    /** Gone from the API already, or the kubelet stops: kill at once and tear down. */
    async kill(): Promise<void> {
        this.terminating = true;
        await this.starting;
        await Promise.all(this.containers.map((c) => c.kill()));
        this.teardown();
    }

    private teardown(): void {
        if (this.gone) return;
        this.gone = true;
        this.host?.remove();
        if (this.ip) this.kubelet.pool.release(this.ip);
        this.note(`test host removed`);
    }
}

class KubeletImpl implements Kubelet {
    readonly kc: k8s.KubeConfig;
    readonly cluster: Cluster;
    readonly logDir: string;
    readonly commandFor: KubeletOptions["commandFor"];
    readonly serviceAccountKubeconfig: boolean;
    readonly core: k8s.CoreV1Api;
    readonly pool: IpPool;
    private readonly stopping = new AbortController();
    readonly life = this.stopping.signal;
    private readonly runners = new Map<string, PodRunner>();
    private readonly watches = new Set<AbortController>();
    private readonly loops: Promise<void>[] = [];
    private readonly watch: k8s.Watch;

    constructor(o: KubeletOptions) {
        this.kc = o.kc;
        this.cluster = o.cluster;
        this.logDir = o.logDir;
        this.commandFor = o.commandFor;
        this.serviceAccountKubeconfig = o.serviceAccountKubeconfig ?? true;
        this.core = o.kc.makeApiClient(k8s.CoreV1Api);
        this.watch = new k8s.Watch(o.kc);
        // An address is taken if any test host on this machine routes it (other runs too).
        this.pool = new IpPool(o.ipRange ?? DEFAULT_IP_RANGE, (ip) => {
            const out = execFileSync("ip", ["-4", "route", "show", "exact", `${ip}/32`], {
                encoding: "utf8",
            });
            return out.trim() !== "";
        });
        mkdirSync(o.logDir, { recursive: true });
    }

    note(line: string): void {
        appendLine(join(this.logDir, "kubelet.log"), `${new Date().toISOString()} ${line}`);
    }

    /** Secrets and ConfigMaps of one namespace, read from the API when a container starts. */
    envSources(namespace: string): EnvSources {
        const read = async <T>(fn: () => Promise<T>): Promise<T | undefined> => {
            try {
                return await fn();
            } catch (e) {
                if (statusCode(e) === 404) return undefined;
                throw e;
            }
        };
        return {
            secret: async (name) => {
                const s = await read(() => this.core.readNamespacedSecret({ name, namespace }));
                if (!s) return undefined;
                const data: Record<string, string> = { ...s.stringData };
                for (const [k, v] of Object.entries(s.data ?? {})) {
                    data[k] = Buffer.from(v, "base64").toString("utf8");
                }
                return data;
            },
            configMap: async (name) => {
                const cm = await read(() => this.core.readNamespacedConfigMap({ name, namespace }));
                return cm ? { ...cm.data } : undefined;
            },
        };
    }

    /** Resolves once every namespace has been listed (its pods are being started). */
    start(namespaces: readonly string[]): Promise<void> {
        const listed = namespaces.map(
            (ns) =>
                new Promise<void>((resolve) => {
                    this.loops.push(this.watchLoop(ns, resolve));
                }),
        );
        return Promise.all(listed).then(() => undefined);
    }

    /** List, then watch from the list's version; any break (API restart, 410) lists again. */
    private async watchLoop(namespace: string, listed: () => void): Promise<void> {
        let backoff = 250;
        while (!this.life.aborted) {
            let failure: unknown;
            try {
                const list = await this.core.listNamespacedPod({ namespace });
                backoff = 250;
                this.syncList(namespace, list.items);
                listed();
                failure = await this.watchFrom(namespace, list.metadata?.resourceVersion);
            } catch (e) {
                failure = e;
            }
            if (this.life.aborted) return;
            if (failure !== undefined) {
                this.note(`pods in ${namespace}: ${message(failure)}; listing again`);
                await sleep(backoff, this.life);
                backoff = Math.min(backoff * 2, 5000);
            }
        }
    }

    /** Resolves when the watch ends: undefined if the server closed it, else the error. */
    private watchFrom(namespace: string, resourceVersion: string | undefined): Promise<unknown> {
        return new Promise((resolve) => {
            let ctrl: AbortController | undefined;
            let ended = false;
            const end = (err: unknown): void => {
                if (ended) return;
                ended = true;
                if (ctrl) this.watches.delete(ctrl);
                resolve(err ?? undefined);
            };
            this.watch
                .watch(
                    `/api/v1/namespaces/${namespace}/pods`,
                    { resourceVersion, allowWatchBookmarks: true },
                    (type: string, obj: k8s.V1Pod & { message?: string }) => {
                        if (type === "ADDED" || type === "MODIFIED") this.reconcile(obj);
                        else if (type === "DELETED") this.onDeleted(obj);
                        else if (type === "ERROR") {
                            ctrl?.abort();
                            end(new Error(`watch error: ${obj.message ?? "unknown"}`));
                        }
                    },
                    (err: unknown) => end(err),
                )
                .then(
                    (c) => {
                        ctrl = c;
                        if (ended || this.life.aborted) c.abort();
                        else this.watches.add(c);
                    },
                    (e: unknown) => end(e),
                );
        });
    }

    /** A fresh list: everything in it is reconciled, runners it lacks were deleted meanwhile. */
    private syncList(namespace: string, pods: readonly k8s.V1Pod[]): void {
        const uids = new Set(pods.map((p) => p.metadata?.uid));
        for (const r of this.runners.values()) {
            if (r.namespace === namespace && !uids.has(r.uid)) this.onDeleted(r.pod);
        }
        for (const p of pods) this.reconcile(p);
    }

    private reconcile(pod: k8s.V1Pod): void {
        if (this.life.aborted) return;
        const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
        let runner = this.runners.get(key);
        if (runner && runner.uid !== pod.metadata?.uid) {
            // Same name, new pod (the old one's deletion went unseen): the old one is gone.
            this.runners.delete(key);
            void runner.kill();
            runner = undefined;
        }
        if (runner) return runner.update(pod);
        if (!pod.spec?.nodeName) return; // not scheduled yet
        const phase = pod.status?.phase;
        if (phase === "Succeeded" || phase === "Failed") return; // finished before we saw it
        if (pod.metadata?.deletionTimestamp) {
            void this.deleteFromApi(pod); // never ran here: nothing to stop
            return;
        }
        runner = new PodRunner(this, pod);
        this.runners.set(key, runner);
        runner.start();
    }

    private onDeleted(pod: k8s.V1Pod): void {
        const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
        const runner = this.runners.get(key);
        if (!runner || runner.uid !== pod.metadata?.uid) return;
        this.runners.delete(key);
        void runner.kill();
    }

    forget(runner: PodRunner): void {
        const key = `${runner.namespace}/${runner.name}`;
        if (this.runners.get(key) === runner) this.runners.delete(key);
    }

    /** The kubelet's last word on a pod: delete it with no grace, this very pod only (uid). */
    async deleteFromApi(pod: k8s.V1Pod): Promise<void> {
        const name = pod.metadata!.name!;
        const namespace = pod.metadata!.namespace!;
        for (let backoff = 250; !this.life.aborted; backoff = Math.min(backoff * 2, 5000)) {
            try {
                await this.core.deleteNamespacedPod({
                    name,
                    namespace,
                    gracePeriodSeconds: 0,
                    body: { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata!.uid! } },
                });
                return;
            } catch (e) {
                // 404: gone already; 409: the name now belongs to another pod.
                if (statusCode(e) === 404 || statusCode(e) === 409) return;
                this.note(`delete ${namespace}/${name}: ${message(e)}`);
                await sleep(backoff, this.life);
            }
        }
    }

    pods(): KubeletPod[] {
        return [...this.runners.values()]
            .filter((r) => r.ip !== undefined)
            .map((r) => ({
                name: r.name,
                namespace: r.namespace,
                ip: r.ip!,
                restarts: r.containers.reduce((n, c) => n + c.restartCount, 0),
                pid: r.containers[0]?.child?.pid,
            }));
    }

    process(podName: string, namespace?: string): ChildProcess | undefined {
        const runner = [...this.runners.values()].find(
            (r) => r.name === podName && (namespace === undefined || r.namespace === namespace),
        );
        return runner?.containers[0]?.child;
    }

    async stop(): Promise<void> {
        this.stopping.abort();
        for (const c of this.watches) c.abort();
        this.watches.clear();
        const runners = [...this.runners.values()];
        this.runners.clear();
        await Promise.all(runners.map((r) => r.kill()));
        await within(Promise.all(this.loops), 5000);
    }
}

/**
 * Starts a kubelet for the pods of `o.namespaces` (the cluster must leave them to it: start it
 * with `kubeletNamespaces`). Resolves once every namespace has been listed.
 */
export async function startKubelet(o: KubeletOptions): Promise<Kubelet> {
    const kubelet = new KubeletImpl(o);
    await kubelet.start(o.namespaces);
    return kubelet;
}
