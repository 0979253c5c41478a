/**
 * Shared setup of the e2e files: one real control plane (attached: it dies with the test process)
 * and one offline Pulumi engine per file, both under a fresh temporary folder.
 */
import * as k8s from "@kubernetes/client-node";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type Cluster, startCluster, stopOnExit } from "./cluster/control-plane";
import { createEngine, type Engine } from "./pulumi/engine";

export const REPO = resolve(__dirname, "..", "..");

/** Image references the cluster never pulls (kwok runs no containers), pinned as the components require. */
export const ROUTER_IMAGE = `registry.e2e.invalid/amlaks-router@sha256:${"a".repeat(64)}`;
export const MODEL_IMAGE = `registry.e2e.invalid/amlaks-apps/diabetes@sha256:${"b".repeat(64)}`;

export interface E2e {
    readonly dir: string;
    readonly cluster: Cluster;
    /** The offline Pulumi engine (absent when set up without one). */
    readonly engine: Engine;
    readonly kc: k8s.KubeConfig;
    cleanup(): Promise<void>;
}

export async function setupE2e(
    label: string,
    opts: {
        pulumi?: boolean;
        /** Namespaces kwok leaves to a test kubelet (see cluster/kubelet.ts). */
        kubeletNamespaces?: readonly string[];
    } = {},
): Promise<E2e> {
    const dir = mkdtempSync(join(tmpdir(), `amlaks-e2e-${label}-`));
    const cluster = await startCluster({
        stateDir: join(dir, "cluster"),
        attached: true,
        kubeletNamespaces: opts.kubeletNamespaces,
    });
    stopOnExit(cluster);
    try {
        const engine =
            opts.pulumi === false
                ? (undefined as unknown as Engine)
                : await createEngine(join(dir, "pulumi"));
        const kc = new k8s.KubeConfig();
        kc.loadFromString(cluster.kubeconfig);
        return {
            dir,
            cluster,
            engine,
            kc,
            async cleanup() {
                await cluster.stop();
                // AMLAKS_E2E_KEEP=1 keeps logs, pod logs and state for a look after a failure.
                if (process.env.AMLAKS_E2E_KEEP)
                    process.stderr.write(`# e2e files kept in ${dir}\n`);
                else rmSync(dir, { recursive: true, force: true });
            },
        };
    } catch (e) {
        await cluster.stop();
        throw e;
    }
}

/** A key of the length generated keys have (32 characters). */
export function newKey(): string {
    return randomBytes(16).toString("hex");
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function eventually<T>(
    what: string,
    timeoutMs: number,
    fn: () => Promise<T | undefined>,
): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
        try {
            const v = await fn();
            if (v !== undefined) return v;
        } catch (e) {
            last = e;
        }
        if (Date.now() > deadline)
            throw new Error(`timed out: ${what} (last error: ${String(last)})`);
        await sleep(250);
    }
}

/** Reads an object from the API server, or undefined on 404. */
export async function readObject(
    kc: k8s.KubeConfig,
    ref: { apiVersion: string; kind: string; name: string; namespace?: string },
): Promise<k8s.KubernetesObject | undefined> {
    const api = k8s.KubernetesObjectApi.makeApiClient(kc);
    try {
        return await api.read({
            apiVersion: ref.apiVersion,
            kind: ref.kind,
            metadata: { name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}) },
        });
    } catch (e) {
        if ((e as { code?: number }).code === 404) return undefined;
        throw e;
    }
}
