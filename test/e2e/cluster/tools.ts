/**
 * Where the binaries built by `scripts/tools/build.sh` are: `$AMLAKS_TOOLS_DIR/bin`
 * (default `~/.cache/amlaks-tools/bin`).
 */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export interface Tools {
    readonly binDir: string;
    readonly etcd: string;
    readonly kubeApiserver: string;
    readonly kubeControllerManager: string;
    readonly kubeScheduler: string;
    readonly kwok: string;
    /** kwok's Stage objects, written next to the kwok binary by the build. */
    readonly kwokStages: string;
    readonly pulumi: string;
    readonly pulumiLanguageNodejs: string;
    readonly pulumiResourceKubernetes: string;
}

export function toolsDir(): string {
    return process.env.AMLAKS_TOOLS_DIR ?? join(homedir(), ".cache", "amlaks-tools");
}

export type ToolName = Exclude<keyof Tools, "binDir">;

export const CLUSTER_TOOLS: readonly ToolName[] = [
    "etcd",
    "kubeApiserver",
    "kubeControllerManager",
    "kubeScheduler",
    "kwok",
    "kwokStages",
];
export const PULUMI_TOOLS: readonly ToolName[] = [
    "pulumi",
    "pulumiLanguageNodejs",
    "pulumiResourceKubernetes",
];

/**
 * The tools' paths, or one error naming every missing file of `needed` and the command that
 * builds them.
 */
export function requireTools(needed: readonly ToolName[]): Tools {
    const binDir = join(toolsDir(), "bin");
    const t: Tools = {
        binDir,
        etcd: join(binDir, "etcd"),
        kubeApiserver: join(binDir, "kube-apiserver"),
        kubeControllerManager: join(binDir, "kube-controller-manager"),
        kubeScheduler: join(binDir, "kube-scheduler"),
        kwok: join(binDir, "kwok"),
        kwokStages: join(binDir, "kwok-stages.yaml"),
        pulumi: join(binDir, "pulumi"),
        pulumiLanguageNodejs: join(binDir, "pulumi-language-nodejs"),
        pulumiResourceKubernetes: join(binDir, "pulumi-resource-kubernetes"),
    };
    const missing = needed.map((k) => t[k]).filter((f) => !existsSync(f));
    if (missing.length > 0) {
        throw new Error(
            `end-to-end tools missing: ${missing.join(", ")}. Build them with scripts/tools/build.sh ` +
                "(about 40 min cold on 2 cores; cached by version afterwards).",
        );
    }
    return t;
}
