/**
 * R27: at most 1000 models per deployment (per container). The count comes from the settings the
 * Deployment carries (`models`), the model-count annotation, or the model folders mounted under
 * `azureml-models/<name>/<version>`.
 */
import { MODELS_ROOT } from "../components/image/models";
import { MAX_MODELS_PER_SERVICE } from "../components/settings";
import { resourcePolicy } from "./lib/core";
import { isKind, isModelDeployment, refOf, settingsOf } from "./lib/k8s";
import {
    arr,
    at,
    containsUnknown,
    isObject,
    isUnknown,
    type JsonObject,
    num,
    str,
} from "./lib/values";
import type { ResourceValidationPolicy } from "@pulumi/policy/policy";

export const MAX_MODELS_PER_DEPLOYMENT = "max-models-per-deployment";

/** Annotation with the number of models a hand-written model Deployment serves. */
export const MODEL_COUNT_ANNOTATION = "amlaks.io/model-count";

interface Config {
    readonly maxModels: number;
}

/** Distinct `<name>/<version>` model folders mounted into the containers. */
function mountedModels(dep: JsonObject): number {
    const seen = new Set<string>();
    for (const c of arr(at(dep, "spec.template.spec.containers"))) {
        for (const m of arr(at(c, "volumeMounts"))) {
            const path = str(at(m, "mountPath")) ?? "";
            const i = path.indexOf(`/${MODELS_ROOT}/`);
            if (i < 0) continue;
            const [name, version] = path.slice(i + MODELS_ROOT.length + 2).split("/");
            if (name && version) seen.add(`${name}/${version}`);
        }
    }
    return seen.size;
}

export const maxModelsPerDeployment: ResourceValidationPolicy = resourcePolicy<Config>({
    name: MAX_MODELS_PER_DEPLOYMENT,
    description: `A model deployment (one container) serves at most ${MAX_MODELS_PER_SERVICE} models (R27).`,
    severity: "high",
    enforcementLevel: "mandatory",
    remediationSteps: "Split the models over several web services.",
    config: {
        maxModels: {
            type: "integer",
            minimum: 1,
            maximum: MAX_MODELS_PER_SERVICE,
            description: `A lower bound than R27's ${MAX_MODELS_PER_SERVICE}, for smaller images.`,
            default: MAX_MODELS_PER_SERVICE,
        },
    },
    readConfig: (raw: JsonObject) => ({ maxModels: num(raw.maxModels) ?? MAX_MODELS_PER_SERVICE }),
    appliesTo: (type) => isKind(type, "apps", "Deployment"),
    check(dep, ctx) {
        if (!isModelDeployment(dep)) return;
        const label = `Model Deployment "${refOf(dep)}"`;
        const settings = settingsOf(dep);
        const annotation = at(dep.props, `metadata.annotations`);
        const countValue = isObject(annotation) ? annotation[MODEL_COUNT_ANNOTATION] : undefined;
        if (
            settings === "unknown" ||
            isUnknown(countValue) ||
            containsUnknown(at(dep.props, "spec.template.spec.containers"))
        ) {
            ctx.skip(`${label}: its model list is unknown during preview`);
            return;
        }
        const counts = [
            isObject(settings) && Array.isArray(settings.models) ? settings.models.length : 0,
            num(countValue) ?? 0,
            mountedModels(dep.props),
        ];
        const count = Math.max(...counts);
        const max = ctx.config.maxModels;
        if (count <= max) return;
        ctx.violation(
            dep,
            `${label} serves ${count} models; a deployment (one container) holds at most ${max} (R27). Split the models over several web services.`,
        );
    },
});
