/** Names of the new cluster and its Kubernetes version (create mode). */
import { named, NameRule } from "../../common/validation";
import type { CheckContext } from "./context";

/** AKS cluster names: 1–63 chars of letters, digits, `-` and `_`, starting and ending alphanumeric. */
export const AKS_CLUSTER_NAME = {
    pattern: /^[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?$/,
    rule: "must be 1-63 characters of letters, digits, dashes and underscores, starting and ending with a letter or digit",
} satisfies NameRule;

export const KUBERNETES_VERSION = {
    pattern: /^\d+\.\d+(\.\d+)?$/,
    rule: 'must be "<major>.<minor>" or "<major>.<minor>.<patch>", e.g. "1.31"',
} satisfies NameRule;

export function checkNames({ p, a }: CheckContext): void {
    named(p, "clusterName", a.clusterName, AKS_CLUSTER_NAME);
    named(p, "kubernetesVersion", a.kubernetesVersion, KUBERNETES_VERSION);
}
