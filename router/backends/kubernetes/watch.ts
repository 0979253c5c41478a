/**
 * A resumable list+watch of one resource in one namespace (by label selector), with a local cache.
 *
 * List, then watch from the list's resourceVersion; a watch that ends normally is resumed from the
 * last resourceVersion seen. On 410 Gone or any error it re-lists with backoff (500 ms doubling to
 * 15 s) and reports only the DIFF against the cache (upserts, removals). The cache is never cleared
 * on an error, so what the router knows keeps serving while the API server is away
 * (docs/design.md §5: no request lost). client-node's ListWatch stops on errors and re-reports
 * everything, hence this.
 */
import * as k8s from "@kubernetes/client-node";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";

/** The fields of a watched object this module reads. */
export interface WatchedObject {
    readonly metadata?: {
        readonly name?: string;
        readonly uid?: string;
        readonly resourceVersion?: string;
    };
}

/** One page of a list call (client-node's `V1…List` types fit). */
export interface ListPage<T> {
    readonly items: readonly T[];
    readonly metadata?: { readonly resourceVersion?: string; readonly _continue?: string };
}

/** A list call of the watched collection, e.g. `(q) => apps.listNamespacedDeployment({ namespace, ...q })`. */
export type Lister<T> = (query: {
    labelSelector: string;
    limit: number;
    _continue?: string;
}) => Promise<ListPage<T>>;

/** Receives the cache changes. Called synchronously; exceptions are logged and ignored. */
export interface WatchHandler<T> {
    upsert(obj: T): void;
    remove(obj: T): void;
}

/** Delays between attempts after errors: doubles from `min` to `max`. */
export interface BackoffMs {
    readonly min: number;
    readonly max: number;
}

export const DEFAULT_BACKOFF_MS: BackoffMs = { min: 500, max: 15_000 };

export interface ResourceWatchOptions<T> {
    readonly kubeConfig: k8s.KubeConfig;
    /** API path of the namespaced collection, e.g. `/apis/apps/v1/namespaces/ns/deployments`. */
    readonly path: string;
    readonly labelSelector: string;
    readonly list: Lister<T>;
    readonly handler: WatchHandler<T>;
    readonly logger: Logger;
    /** @default {@link DEFAULT_BACKOFF_MS} */
    readonly backoffMs?: BackoffMs;
    /** Longest single watch request; the server ends it and it is resumed. @default 300 */
    readonly watchTimeoutSeconds?: number;
    /** Items per list page. @default 500 */
    readonly pageSize?: number;
}

/** How one watch request ended. */
type WatchEnd =
    | { readonly kind: "ended" }
    | { readonly kind: "gone" }
    | { readonly kind: "error"; readonly error: unknown };

/** A watch shorter than this that ended without an error still counts as a failure (no hot loop). */
const MIN_HEALTHY_WATCH_MS = 1_000;
/** Seconds past the server-side watch timeout after which a silent watch is abandoned. */
const WATCHDOG_MARGIN_S = 30;
/** Longest wait for one list page. */
const LIST_TIMEOUT_MS = 60_000;

function statusCode(err: unknown): number | undefined {
    const e = err as { code?: unknown; statusCode?: unknown } | null;
    const c = e?.code ?? e?.statusCode;
    return typeof c === "number" ? c : undefined;
}

function errorText(err: unknown): string {
    const code = statusCode(err);
    const message = err instanceof Error ? err.message : String(err);
    // ApiException messages carry the whole response; the first line is enough for a log.
    const first = message.split("\n")[0].slice(0, 300);
    return code === undefined ? first : `HTTP ${code}: ${first}`;
}

/** The cache key of an object: its name (the namespace is fixed per watch). */
function keyOf(o: WatchedObject): string | undefined {
    return o.metadata?.name;
}

/** List+watch with a diffing re-list; see the module comment. */
export class ResourceWatch<T extends WatchedObject> {
    /** Resolves after the first successful list was applied; rejects if stopped before that. */
    readonly synced: Promise<void>;
    private readonly cache = new Map<string, T>();
    private readonly opts: ResourceWatchOptions<T>;
    private readonly backoff: BackoffMs;
    private readonly log: Logger;
    private readonly abort = new AbortController();
    private resolveSynced!: () => void;
    private rejectSynced!: (err: Error) => void;
    private isSynced = false;
    private resourceVersion?: string;
    private running?: Promise<void>;

    constructor(opts: ResourceWatchOptions<T>) {
        this.opts = opts;
        this.backoff = opts.backoffMs ?? DEFAULT_BACKOFF_MS;
        this.log = opts.logger.child({ watch: opts.path, labelSelector: opts.labelSelector });
        this.synced = new Promise<void>((resolve, reject) => {
            this.resolveSynced = resolve;
            this.rejectSynced = reject;
        });
        this.synced.catch(() => undefined); // nobody may await it
    }

    /** Starts the list+watch loop (once). */
    start(): void {
        this.running ??= this.run();
    }

    /** Ends the watch and every timer; the cache stays readable. */
    async stop(): Promise<void> {
        this.abort.abort();
        if (!this.isSynced) this.rejectSynced(new Error(`watch of ${this.opts.path} stopped`));
        await this.running;
    }

    /** The cached objects. */
    items(): T[] {
        return [...this.cache.values()];
    }

    private get stopped(): boolean {
        return this.abort.signal.aborted;
    }

    private async run(): Promise<void> {
        let failures = 0;
        let needList = true;
        while (!this.stopped) {
            if (needList) {
                try {
                    await this.relist();
                    needList = false;
                } catch (err) {
                    if (this.stopped) return;
                    failures++;
                    this.log.warn(
                        { err: errorText(err), failures },
                        "kubernetes list failed; keeping what is known and retrying",
                    );
                    await this.pause(failures);
                    continue;
                }
            }
            const startedAt = Date.now();
            const end = await this.watchOnce();
            if (this.stopped) return;
            const lasted = Date.now() - startedAt;
            if (lasted >= this.backoff.max) failures = 0;
            if (end.kind === "ended") {
                if (lasted >= MIN_HEALTHY_WATCH_MS) continue; // resume from resourceVersion
                failures++;
                await this.pause(failures);
                continue;
            }
            needList = true;
            failures++;
            if (end.kind === "gone") {
                this.log.debug("watch resourceVersion expired (410 Gone); re-listing");
            } else {
                this.log.warn(
                    { err: errorText(end.error), failures },
                    "kubernetes watch failed; re-listing",
                );
            }
            await this.pause(failures);
        }
    }

    private async pause(failures: number): Promise<void> {
        const ms = Math.min(this.backoff.max, this.backoff.min * 2 ** Math.min(30, failures - 1));
        try {
            await sleep(ms, undefined, { signal: this.abort.signal });
        } catch {
            // stopped
        }
    }

    /** `p`, or a rejection after {@link LIST_TIMEOUT_MS} or on stop (a hung call never blocks). */
    private bounded<R>(p: Promise<R>): Promise<R> {
        return new Promise<R>((resolve, reject) => {
            const fail = (): void => {
                clearTimeout(timer);
                reject(new Error(this.stopped ? "stopped" : "list timed out"));
            };
            const timer = setTimeout(fail, LIST_TIMEOUT_MS);
            this.abort.signal.addEventListener("abort", fail, { once: true });
            p.then(
                (v) => {
                    clearTimeout(timer);
                    this.abort.signal.removeEventListener("abort", fail);
                    resolve(v);
                },
                (err: unknown) => {
                    clearTimeout(timer);
                    this.abort.signal.removeEventListener("abort", fail);
                    reject(err as Error);
                },
            );
        });
    }

    /** Lists every page, then applies the difference to the cache and the handler. */
    private async relist(): Promise<void> {
        const items: T[] = [];
        let next: string | undefined;
        let rv: string | undefined;
        do {
            const page = await this.bounded(
                this.opts.list({
                    labelSelector: this.opts.labelSelector,
                    limit: this.opts.pageSize ?? 500,
                    ...(next ? { _continue: next } : {}),
                }),
            );
            if (this.stopped) return;
            items.push(...page.items);
            rv = page.metadata?.resourceVersion ?? rv;
            next = page.metadata?._continue || undefined;
        } while (next);

        const fresh = new Map<string, T>();
        for (const item of items) {
            const key = keyOf(item);
            if (key !== undefined) fresh.set(key, item);
        }
        for (const [key, old] of [...this.cache]) {
            if (fresh.has(key)) continue;
            this.cache.delete(key);
            this.emit("remove", old);
        }
        for (const [key, item] of fresh) {
            const old = this.cache.get(key);
            if (
                old &&
                old.metadata?.uid === item.metadata?.uid &&
                old.metadata?.resourceVersion === item.metadata?.resourceVersion
            ) {
                continue;
            }
            this.cache.set(key, item);
            this.emit("upsert", item);
        }
        this.resourceVersion = rv;
        if (!this.isSynced) {
            this.isSynced = true;
            this.resolveSynced();
        }
    }

    /** One watch request from the last resourceVersion, until it ends (bounded by a watchdog). */
    private watchOnce(): Promise<WatchEnd> {
        const timeoutSeconds = this.opts.watchTimeoutSeconds ?? 300;
        if (this.stopped) return Promise.resolve({ kind: "ended" });
        return new Promise<WatchEnd>((resolve) => {
            let outcome: WatchEnd | undefined;
            let finished = false;
            let controller: AbortController | undefined;
            const finish = (end: WatchEnd): void => {
                if (finished) return;
                finished = true;
                clearTimeout(watchdog);
                this.abort.signal.removeEventListener("abort", onStop);
                controller?.abort();
                resolve(end);
            };
            const onStop = (): void => finish({ kind: "ended" });
            // The server ends the request after timeoutSeconds; a peer that vanished without
            // closing the connection must not leave this watch hanging forever.
            const watchdog = setTimeout(
                () => finish({ kind: "error", error: new Error("watch went silent") }),
                (timeoutSeconds + WATCHDOG_MARGIN_S) * 1000,
            );
            this.abort.signal.addEventListener("abort", onStop, { once: true });
            const onEvent = (type: string, obj: unknown): void => {
                if (finished || outcome) return;
                const o = obj as T & { code?: number };
                if (type === "ERROR") {
                    // A Status object; the server closes the stream after it.
                    outcome =
                        o.code === 410
                            ? { kind: "gone" }
                            : { kind: "error", error: new Error(JSON.stringify(obj)) };
                    finish(outcome);
                    return;
                }
                const rv = o.metadata?.resourceVersion;
                if (rv) this.resourceVersion = rv;
                const key = keyOf(o);
                if (type === "BOOKMARK" || key === undefined) return;
                if (type === "DELETED") {
                    const old = this.cache.get(key);
                    this.cache.delete(key);
                    this.emit("remove", old ?? o);
                } else if (type === "ADDED" || type === "MODIFIED") {
                    this.cache.set(key, o);
                    this.emit("upsert", o);
                }
            };
            const onDone = (err: unknown): void => {
                if (err) {
                    finish(
                        statusCode(err) === 410 ? { kind: "gone" } : { kind: "error", error: err },
                    );
                } else {
                    finish({ kind: "ended" });
                }
            };
            new k8s.Watch(this.opts.kubeConfig)
                .watch(
                    this.opts.path,
                    {
                        labelSelector: this.opts.labelSelector,
                        resourceVersion: this.resourceVersion,
                        allowWatchBookmarks: true,
                        timeoutSeconds,
                    },
                    onEvent,
                    onDone,
                )
                .then(
                    (c) => {
                        controller = c;
                        if (finished) c.abort();
                    },
                    (err: unknown) => finish({ kind: "error", error: err }),
                );
        });
    }

    private emit(kind: "upsert" | "remove", obj: T): void {
        try {
            this.opts.handler[kind](obj);
        } catch (err) {
            this.log.error({ err: errorText(err), kind }, "watch handler threw");
        }
    }
}
