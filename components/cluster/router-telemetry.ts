/**
 * The router's Application Insights export on the cluster (docs/app-insights.md): the connection
 * string (the `workspace` shorthand's, or `appInsightsConnectionString`) goes into a Secret in the
 * router namespace, and the router Deployment reads it as `APPLICATIONINSIGHTS_CONNECTION_STRING`
 * through a secretKeyRef, so it never appears in the Deployment, in plain outputs or in logs. The
 * router then exports the requests of services with `enableAppInsights: true`.
 */
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { REDACTED, type Problems, knownValue } from "../common/validation";
import { connectionStringProblem } from "../../router/telemetry/connection-string";
import { ROUTER_NAME } from "./router-rbac";

/** Secret holding the connection string in the router namespace. */
export const ROUTER_APPINSIGHTS_SECRET_NAME = `${ROUTER_NAME}-appinsights`;
/** Its key. */
export const ROUTER_APPINSIGHTS_SECRET_KEY = "connectionString";
/** The variable the router reads (router/telemetry/config.ts). */
export const APPINSIGHTS_ENV = "APPLICATIONINSIGHTS_CONNECTION_STRING";

/**
 * The Secret; `connectionString` must already be a `pulumi.secret` (the resource is also created
 * with `additionalSecretOutputs`).
 */
export function renderRouterAppInsightsSecret(
    namespace: string,
    connectionString: pulumi.Input<string>,
): k8s.types.input.core.v1.Secret {
    return {
        apiVersion: "v1",
        kind: "Secret",
        metadata: {
            name: ROUTER_APPINSIGHTS_SECRET_NAME,
            namespace,
            labels: {
                "app.kubernetes.io/name": ROUTER_NAME,
                "app.kubernetes.io/part-of": "amlaks",
                "app.kubernetes.io/managed-by": "pulumi",
            },
        },
        type: "Opaque",
        stringData: { [ROUTER_APPINSIGHTS_SECRET_KEY]: connectionString },
    };
}

/** The router container's variable, read from the Secret. */
export function routerAppInsightsEnv(): k8s.types.input.core.v1.EnvVar {
    return {
        name: APPINSIGHTS_ENV,
        valueFrom: {
            secretKeyRef: {
                name: ROUTER_APPINSIGHTS_SECRET_NAME,
                key: ROUTER_APPINSIGHTS_SECRET_KEY,
            },
        },
    };
}

/**
 * Checks `appInsightsConnectionString` when it is a plain value (an Output is checked by the
 * router when it starts). Never echoes it.
 */
export function checkRouterTelemetryArgs(p: Problems, connectionString: unknown): void {
    if (connectionString === undefined || connectionString === null) return;
    const v = knownValue<unknown>(connectionString);
    if (v === undefined) return;
    if (typeof v !== "string" || v.trim() === "") {
        p.add("appInsightsConnectionString", REDACTED, "must be a non-empty string");
        return;
    }
    const problem = connectionStringProblem(v.trim());
    if (problem) p.add("appInsightsConnectionString", REDACTED, problem);
}
