/** Validates a rendered Kubernetes object against the OpenAPI schema (kubernetes-models). */
import { DaemonSet } from "kubernetes-models/apps/v1/DaemonSet";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ClusterRole } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole";
import { ClusterRoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding";
import { Role } from "kubernetes-models/rbac.authorization.k8s.io/v1/Role";
import { RoleBinding } from "kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const MODELS: Record<string, new (data: any) => { validate(): void }> = {
    Namespace,
    ServiceAccount,
    Secret,
    Service,
    Deployment,
    DaemonSet,
    ClusterRole,
    ClusterRoleBinding,
    Role,
    RoleBinding,
    PodDisruptionBudget,
    HorizontalPodAutoscaler,
};

/** Throws when `obj` does not match the schema of its kind. */
export function validateK8sObject(obj: object): void {
    const kind = (obj as { kind?: string }).kind ?? "";
    const Model = MODELS[kind];
    if (!Model) throw new Error(`no kubernetes-models class for kind ${kind}`);
    // Round-trip through JSON: the object must be plain data (no Outputs, no functions).
    new Model(JSON.parse(JSON.stringify(obj))).validate();
}
