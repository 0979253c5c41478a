/**
 * R29: no Kubernetes HorizontalPodAutoscaler (any API version) and no KEDA ScaledObject (which
 * drives an HPA) may scale a model Deployment: the router's autoscaler owns its replica count, and
 * two autoscalers would compete. The router's own HPA (on the router Deployment) is fine.
 */
import { MODEL_DEPLOYMENT_LABEL, SERVICE_LABEL } from "../components/webservice/contract";
import { stackPolicy } from "./lib/core";
import { isKind, isModelDeployment, nameOf, namespaceOf, refOf, tokenApiVersion } from "./lib/k8s";
import { at, isUnknown, str, stringMap } from "./lib/values";
import type { StackValidationPolicy } from "@pulumi/policy/policy";

export const NO_HPA_ON_MODEL_DEPLOYMENTS = "no-hpa-on-model-deployments";

/** Display name of an autoscaler object. */
function autoscalerLabel(type: string): string {
    return type.includes(":ScaledObject")
        ? `KEDA ScaledObject`
        : `HorizontalPodAutoscaler (${tokenApiVersion(type)})`;
}

export const noHpaOnModelDeployments: StackValidationPolicy = stackPolicy({
    name: NO_HPA_ON_MODEL_DEPLOYMENTS,
    description:
        "No HorizontalPodAutoscaler or KEDA ScaledObject may target a model Deployment: the amlaks router autoscales model services (R29).",
    severity: "high",
    enforcementLevel: "mandatory",
    remediationSteps:
        "Delete the HorizontalPodAutoscaler/ScaledObject. Scale the service with the router instead: autoscaleEnabled, autoscaleMinReplicas, autoscaleMaxReplicas and autoscaleTargetUtilization on AksWebservice (or in the amlaks.io/settings annotation).",
    check(all, ctx) {
        const models = all.filter(isModelDeployment);
        for (const a of all) {
            // Server-side-apply patches (`...Patch`) set the same fields on an existing object.
            const hpa =
                isKind(a.type, "autoscaling", "HorizontalPodAutoscaler") ||
                isKind(a.type, "autoscaling", "HorizontalPodAutoscalerPatch");
            const keda =
                isKind(a.type, "keda.sh", "ScaledObject") ||
                isKind(a.type, "keda.sh", "ScaledObjectPatch");
            if (!hpa && !keda) continue;
            const label = `${autoscalerLabel(a.type)} "${refOf(a)}"`;
            const ref = at(a.props, "spec.scaleTargetRef");
            const kindValue = at(ref, "kind");
            const nameValue = at(ref, "name");
            const ns = namespaceOf(a);
            if (isUnknown(ref) || isUnknown(kindValue) || isUnknown(nameValue) || !ns) {
                ctx.skip(`${label}: its target is unknown during preview`);
                continue;
            }
            // KEDA's scaleTargetRef.kind defaults to Deployment.
            const kind = str(kindValue) ?? (keda ? "Deployment" : undefined);
            const target = str(nameValue);
            if (kind !== "Deployment" || target === undefined) continue;
            const model = models.find((d) => nameOf(d) === target && namespaceOf(d) === ns);
            const labels = stringMap(at(a.props, "metadata.labels"));
            if (model) {
                ctx.violation(
                    a,
                    `${label} targets the model Deployment "${refOf(model)}". The amlaks router autoscales model deployments; a Kubernetes autoscaler on the same Deployment would compete with it (R29). Remove it and use the web service's autoscale settings (autoscaleMinReplicas, autoscaleMaxReplicas, autoscaleTargetUtilization).`,
                );
            } else if (labels[MODEL_DEPLOYMENT_LABEL] === "true" || SERVICE_LABEL in labels) {
                ctx.violation(
                    a,
                    `${label} targets Deployment "${ns}/${target}" and carries the labels of a model service. The amlaks router autoscales model deployments; a Kubernetes autoscaler would compete with it (R29). Remove it and use the web service's autoscale settings.`,
                );
            }
        }
    },
});
