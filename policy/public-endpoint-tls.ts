/**
 * R6 (with R5): a scoring endpoint reachable from the internet terminates TLS, or keys, tokens and
 * payloads cross it in clear text. Public means a LoadBalancer Service without the Azure internal
 * load balancer annotation, an Ingress, or a workspace AKS compute on a public IP. Scoring means
 * the router's pods, or the pods of a model Deployment.
 */
import { ROUTER_NAME } from "../components/cluster/router-rbac";
import { MODEL_DEPLOYMENT_LABEL } from "../components/webservice/contract";
import { isMlCompute } from "./lib/azure";
import { type CheckContext, type ResourceView, stackPolicy } from "./lib/core";
import {
    AZURE_LB_INTERNAL,
    isKind,
    isModelDeployment,
    isRouterSelector,
    nameOf,
    namespaceOf,
    podLabelsOf,
    refOf,
} from "./lib/k8s";
import { arr, at, containsUnknown, isUnknown, str, stringMap } from "./lib/values";
import type { StackValidationPolicy } from "@pulumi/policy/policy";

export const PUBLIC_ENDPOINT_TLS = "public-endpoint-tls";

/** HTTPS ports of a Service (443, a port named https, or the router's TLS port). */
function hasTlsPort(ports: unknown[]): boolean {
    return ports.some((p) => {
        const port = at(p, "port");
        const name = str(at(p, "name"))?.toLowerCase();
        const target = at(p, "targetPort");
        return port === 443 || name === "https" || target === "https" || target === 8443;
    });
}

/** True when a Service selector picks the router's pods or a model Deployment's pods. */
function selectsScoringPods(svc: ResourceView, models: readonly ResourceView[]): boolean {
    const selector = stringMap(at(svc.props, "spec.selector"));
    const keys = Object.keys(selector);
    if (keys.length === 0) return false;
    if (isRouterSelector(selector) || selector[MODEL_DEPLOYMENT_LABEL] === "true") return true;
    const ns = namespaceOf(svc);
    return models.some((m) => {
        const labels = podLabelsOf(m);
        return namespaceOf(m) === ns && keys.every((k) => labels[k] === selector[k]);
    });
}

function checkService(
    svc: ResourceView,
    models: readonly ResourceView[],
    ctx: CheckContext<unknown>,
): void {
    const label = `Service "${refOf(svc)}"`;
    const spec = at(svc.props, "spec");
    if (containsUnknown(at(spec, "type")) || containsUnknown(at(spec, "selector"))) {
        ctx.skip(`${label}: its type or selector is unknown during preview`);
        return;
    }
    if (str(at(spec, "type")) !== "LoadBalancer" || !selectsScoringPods(svc, models)) return;
    const annotations = stringMap(at(svc.props, "metadata.annotations"));
    if (annotations[AZURE_LB_INTERNAL]?.toLowerCase() === "true") return;
    const rawPorts = at(spec, "ports");
    if (containsUnknown(rawPorts)) {
        ctx.skip(`${label}: its ports are unknown during preview`);
        return;
    }
    const ports = arr(rawPorts);
    if (hasTlsPort(ports)) return;
    const list = ports.map((p) => String(at(p, "port"))).join(", ") || "none";
    ctx.violation(
        svc,
        `${label} exposes the scoring endpoint on a public load balancer without TLS (ports: ${list}): keys, tokens and payloads cross the internet in clear text (R5, R6). Give the inference cluster a certificate (sslCname, sslCertPem, sslKeyPem) or make the load balancer internal (loadBalancerType: InternalLoadBalancer).`,
    );
}

function checkIngress(
    ing: ResourceView,
    scoringServices: ReadonlySet<string>,
    ctx: CheckContext<unknown>,
): void {
    const label = `Ingress "${refOf(ing)}"`;
    const rules = at(ing.props, "spec.rules");
    const tls = at(ing.props, "spec.tls");
    if (isUnknown(rules) || isUnknown(tls)) {
        ctx.skip(`${label}: its rules or TLS section are unknown during preview`);
        return;
    }
    const backends = [
        at(ing.props, "spec.defaultBackend.service.name"),
        ...arr(rules).flatMap((r) =>
            arr(at(r, "http.paths")).map((p) => at(p, "backend.service.name")),
        ),
    ];
    const ns = namespaceOf(ing);
    const scoring = backends.some(
        (b) => b === ROUTER_NAME || scoringServices.has(`${ns}/${String(b)}`),
    );
    if (!scoring || arr(tls).length > 0) return;
    ctx.violation(
        ing,
        `${label} routes to the scoring endpoint without TLS (spec.tls is empty) (R6). Add a TLS section with a certificate for its host.`,
    );
}

function checkCompute(c: ResourceView, ctx: CheckContext<unknown>): void {
    const props = at(c.props, "properties");
    if (String(at(props, "computeType") ?? "").toUpperCase() !== "AKS") return;
    const lb = str(at(props, "properties.loadBalancerType")) ?? "PublicIp";
    const status = str(at(props, "properties.sslConfiguration.status"));
    if (lb !== "PublicIp" || status !== "Disabled") return;
    ctx.violation(
        c,
        `Workspace compute "${str(c.props.computeName) ?? c.name}" serves AKS scoring on a public IP with SSL disabled (sslConfiguration.status Disabled) (R6). Enable SSL with a certificate and CNAME (or a leaf domain label), or use an internal load balancer.`,
    );
}

export const publicEndpointTls: StackValidationPolicy = stackPolicy({
    name: PUBLIC_ENDPOINT_TLS,
    description: "Scoring endpoints reachable from the internet must terminate TLS (R6).",
    severity: "high",
    enforcementLevel: "advisory",
    remediationSteps:
        "Give AksInferenceCluster sslCname + sslCertPem + sslKeyPem (the router terminates TLS on 443), or keep the endpoint private with loadBalancerType: InternalLoadBalancer.",
    check(all, ctx) {
        const models = all.filter(isModelDeployment);
        const scoringServices = new Set<string>();
        for (const r of all) {
            if (!isKind(r.type, "", "Service")) continue;
            if (selectsScoringPods(r, models))
                scoringServices.add(`${namespaceOf(r)}/${nameOf(r)}`);
            checkService(r, models, ctx);
        }
        for (const r of all) {
            if (isKind(r.type, "networking.k8s.io", "Ingress"))
                checkIngress(r, scoringServices, ctx);
            else if (isMlCompute(r.type)) checkCompute(r, ctx);
        }
    },
});
