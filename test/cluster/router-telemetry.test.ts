/**
 * The router's Application Insights connection string on the cluster (router-telemetry.ts), under
 * Pulumi mocks: from the `workspace` shorthand or the explicit arg into a Secret in the router
 * namespace (a Pulumi secret end to end), read by the router Deployment through a secretKeyRef;
 * no Secret and no variable without one; a malformed plain value fails before anything exists.
 */
import * as pulumi from "@pulumi/pulumi";
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { AksInferenceCluster } from "../../components/cluster";
import { renderDeployment, type RouterRenderConfig } from "../../components/cluster/router-install";
import {
    ROUTER_APPINSIGHTS_SECRET_KEY,
    ROUTER_APPINSIGHTS_SECRET_NAME,
    renderRouterAppInsightsSecret,
} from "../../components/cluster/router-telemetry";
import { ValidationError } from "../../components/common/validation";
import { AmlWorkspace } from "../../components/workspace";
import { validateK8sObject } from "./k8s-validate";
import {
    certKubeconfig,
    isSecretInput,
    one,
    reveal,
    settle,
    setupMocks,
    unwrap,
    type Recorded,
} from "./mocks";

const mocks = setupMocks();
const IMAGE = "myacr.azurecr.io/amlaks-router:1";
/** What the mocked Application Insights component returns (test/cluster/mocks.ts). */
const WORKSPACE_CS =
    "InstrumentationKey=11111111-2222-3333-4444-555555555555;IngestionEndpoint=https://x";
const EXPLICIT_CS =
    "InstrumentationKey=0f6a3c2e-1b2d-4e5f-8a9b-0c1d2e3f4a5b;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/";

function of(name: string): Recorded[] {
    return mocks.resources.filter((r) => r.name === name || r.name.startsWith(`${name}-`));
}

function routerEnv(name: string): { name: string; value?: unknown; valueFrom?: unknown }[] {
    const d = one(of(name), "kubernetes:apps/v1:Deployment", `${name}-router`).inputs;
    return d.spec.template.spec.containers[0].env;
}

const local = (extra: Record<string, unknown>) => ({
    kubeconfig: certKubeconfig("https://127.0.0.1:6443"),
    clusterPurpose: "DevTest",
    routerImage: IMAGE,
    location: "westeurope",
    ...extra,
});

let fromWorkspace: AksInferenceCluster;
let explicit: AksInferenceCluster;
let none: AksInferenceCluster;

before(async () => {
    const ws = new AmlWorkspace("ml", { location: "westeurope", resourceGroupName: "rg-ml" });
    fromWorkspace = new AksInferenceCluster("wsai", local({ workspace: ws }));
    explicit = new AksInferenceCluster(
        "expai",
        local({ workspace: ws, appInsightsConnectionString: pulumi.secret(EXPLICIT_CS) }),
    );
    none = new AksInferenceCluster("noai", local({}));
    for (const c of [fromWorkspace, explicit, none]) await unwrap(c.requiredHosts);
    await settle(mocks.resources);
});

describe("AksInferenceCluster: the router's Application Insights connection string", () => {
    test("from the workspace: a Secret in the router namespace whose value is a Pulumi secret", async () => {
        const secret = one(of("wsai"), "kubernetes:core/v1:Secret", "wsai-router-appinsights");
        assert.equal(secret.inputs.metadata.name, ROUTER_APPINSIGHTS_SECRET_NAME);
        assert.equal(secret.inputs.metadata.namespace, await unwrap(fromWorkspace.routerNamespace));
        const data = secret.inputs.stringData;
        assert.ok(isSecretInput(data), "the connection string reaches the engine as a secret");
        assert.deepEqual(reveal(data), { [ROUTER_APPINSIGHTS_SECRET_KEY]: WORKSPACE_CS });
        validateK8sObject(reveal(secret.inputs));
        assert.equal(await pulumi.isSecret(fromWorkspace.appInsightsConnectionString!), true);
    });

    test("the router Deployment refers to it by secretKeyRef and never holds the value", () => {
        const env = routerEnv("wsai");
        const ai = env.filter((e) => e.name === "APPLICATIONINSIGHTS_CONNECTION_STRING");
        assert.deepEqual(ai, [
            {
                name: "APPLICATIONINSIGHTS_CONNECTION_STRING",
                valueFrom: {
                    secretKeyRef: {
                        name: ROUTER_APPINSIGHTS_SECRET_NAME,
                        key: ROUTER_APPINSIGHTS_SECRET_KEY,
                    },
                },
            },
        ]);
        const deployment = one(of("wsai"), "kubernetes:apps/v1:Deployment", "wsai-router").inputs;
        assert.ok(!JSON.stringify(deployment).includes("InstrumentationKey"));
    });

    test("the explicit arg wins over the workspace's", async () => {
        const secret = one(of("expai"), "kubernetes:core/v1:Secret", "expai-router-appinsights");
        assert.ok(isSecretInput(secret.inputs.stringData));
        assert.deepEqual(reveal(secret.inputs.stringData), { connectionString: EXPLICIT_CS });
        assert.equal(await unwrap(explicit.appInsightsConnectionString!), EXPLICIT_CS);
        assert.equal(await pulumi.isSecret(explicit.appInsightsConnectionString!), true);
    });

    test("without a workspace or the arg: no Secret, no variable, no output", () => {
        assert.equal(of("noai").filter((r) => r.name === "noai-router-appinsights").length, 0);
        assert.ok(
            !routerEnv("noai").some((e) => e.name === "APPLICATIONINSIGHTS_CONNECTION_STRING"),
        );
        assert.equal(none.appInsightsConnectionString, undefined);
    });

    test("a malformed plain value fails before anything is created, without echoing it", () => {
        const before = mocks.resources.length;
        const bad = "InstrumentationKey=not-a-guid;IngestionEndpoint=https://secret-host/";
        assert.throws(
            () => new AksInferenceCluster("badai", local({ appInsightsConnectionString: bad })),
            (e: ValidationError) => {
                assert.deepEqual(
                    e.problems.map((p) => p.field),
                    ["appInsightsConnectionString"],
                );
                assert.match(e.message, /InstrumentationKey is not a GUID/);
                assert.ok(!e.message.includes("not-a-guid") && !e.message.includes("secret-host"));
                return true;
            },
        );
        assert.equal(mocks.resources.length, before);
    });

    test("rendered objects match the Kubernetes schema", () => {
        validateK8sObject(renderRouterAppInsightsSecret("azureml", EXPLICIT_CS));
        const cfg: RouterRenderConfig = {
            namespace: "azureml",
            purpose: "FastProd",
            image: IMAGE,
            tls: false,
            serviceType: "LoadBalancer",
            loadBalancerType: "PublicIp",
            azureAnnotations: true,
            serviceNamespaces: ["azureml-services"],
            createServiceNamespace: true,
            appInsights: true,
        };
        validateK8sObject(renderDeployment(cfg));
    });
});
