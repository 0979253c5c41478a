/**
 * R5, R35: a model web service answers only authenticated calls — key auth (the default) or token
 * auth. `authEnabled: false` without token auth leaves the scoring endpoint open to anyone who
 * reaches it.
 */
import { resourcePolicy } from "./lib/core";
import { isKind, isModelDeployment, refOf, settingsOf } from "./lib/k8s";
import { str } from "./lib/values";
import type { ResourceValidationPolicy } from "@pulumi/policy/policy";

export const WEBSERVICE_AUTH_REQUIRED = "webservice-auth-required";

export const webserviceAuthRequired: ResourceValidationPolicy = resourcePolicy({
    name: WEBSERVICE_AUTH_REQUIRED,
    description: "Model web services must require key or token authentication (R5, R35).",
    severity: "high",
    enforcementLevel: "advisory",
    remediationSteps:
        "Remove authEnabled: false from the web service (key auth is the default), or set tokenAuthEnabled: true.",
    appliesTo: (type) => isKind(type, "apps", "Deployment"),
    check(dep, ctx) {
        if (!isModelDeployment(dep)) return;
        const settings = settingsOf(dep);
        const label = `Model Deployment "${refOf(dep)}"`;
        if (settings === "unknown") {
            ctx.skip(`${label}: its settings are unknown during preview`);
            return;
        }
        if (settings === undefined) return; // the router does not serve it without settings
        const token = settings.tokenAuthEnabled === true;
        const key = settings.authEnabled === undefined ? !token : settings.authEnabled === true;
        if (key || token) return;
        const service = str(settings.name) ?? "?";
        ctx.violation(
            dep,
            `${label} serves web service "${service}" without authentication (authEnabled and tokenAuthEnabled are false): anyone who reaches the scoring endpoint can call the model (R5, R35). Enable key auth (the default) or token auth.`,
        );
    },
});
