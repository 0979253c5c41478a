/** no-hpa-on-model-deployments (R29): compliant and non-compliant stacks, waivers, unknowns. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { noHpaOnModelDeployments as policy } from "../../policy/no-hpa-on-model-deployments";
import { messages, runStackPolicy, UNKNOWN, urnOf } from "./harness";
import { hpa, modelDeployment, NS } from "./resources";

const HPA_MESSAGE = (version: string) =>
    `HorizontalPodAutoscaler (autoscaling/${version}) "${NS}/diabetes-hpa" targets the model Deployment "${NS}/diabetes". The amlaks router autoscales model deployments; a Kubernetes autoscaler on the same Deployment would compete with it (R29). Remove it and use the web service's autoscale settings (autoscaleMinReplicas, autoscaleMaxReplicas, autoscaleTargetUtilization).`;

describe("no-hpa-on-model-deployments", () => {
    test("is mandatory by default (R29 says do not)", () => {
        assert.equal(policy.enforcementLevel, "mandatory");
    });

    test("a model Deployment without an autoscaler passes", async () => {
        const run = await runStackPolicy(policy, [modelDeployment()]);
        assert.deepEqual(run.violations, []);
    });

    for (const version of ["v1", "v2", "v2beta1", "v2beta2"]) {
        test(`an autoscaling/${version} HPA aimed at the model Deployment is refused`, async () => {
            const h = hpa("diabetes", version);
            const run = await runStackPolicy(policy, [modelDeployment(), h]);
            assert.deepEqual(run.violations, [{ message: HPA_MESSAGE(version), urn: urnOf(h) }]);
        });
    }

    test("a KEDA ScaledObject aimed at the model Deployment is refused (kind defaults to Deployment)", async () => {
        const so = {
            type: "kubernetes:keda.sh/v1alpha1:ScaledObject",
            name: "scaler",
            props: {
                apiVersion: "keda.sh/v1alpha1",
                kind: "ScaledObject",
                metadata: { name: "diabetes-scaler", namespace: NS },
                spec: { scaleTargetRef: { name: "diabetes" }, triggers: [{ type: "cpu" }] },
            },
        };
        const run = await runStackPolicy(policy, [modelDeployment(), so]);
        assert.deepEqual(messages(run), [
            `KEDA ScaledObject "${NS}/diabetes-scaler" targets the model Deployment "${NS}/diabetes". The amlaks router autoscales model deployments; a Kubernetes autoscaler on the same Deployment would compete with it (R29). Remove it and use the web service's autoscale settings (autoscaleMinReplicas, autoscaleMaxReplicas, autoscaleTargetUtilization).`,
        ]);
    });

    test("a Deployment is a model Deployment by its pod label alone, or as a child of AksWebservice", async () => {
        const labelled = modelDeployment();
        const props = structuredClone(labelled.props) as { metadata: Record<string, unknown> };
        props.metadata.labels = {};
        props.metadata.annotations = {};
        const byPodLabel = { ...labelled, props };
        assert.equal(
            messages(await runStackPolicy(policy, [byPodLabel, hpa("diabetes")])).length,
            1,
        );

        const plain = structuredClone(props) as {
            metadata: Record<string, unknown>;
            spec: { template: { metadata: { labels: Record<string, string> } } };
        };
        plain.spec.template.metadata.labels = { app: "diabetes" };
        const component = { type: "amlaks:index:AksWebservice", name: "svc", props: {} };
        const child = { ...labelled, props: plain, parent: "svc" };
        assert.equal(
            messages(await runStackPolicy(policy, [component, child, hpa("diabetes")])).length,
            1,
        );
        // The same plain Deployment outside the component is not a model Deployment.
        const other = { ...labelled, props: plain };
        assert.deepEqual(messages(await runStackPolicy(policy, [other, hpa("diabetes")])), []);
    });

    test("a server-side-apply HPA patch aimed at the model Deployment is refused too", async () => {
        const patch = {
            ...hpa("diabetes"),
            type: "kubernetes:autoscaling/v2:HorizontalPodAutoscalerPatch",
        };
        const run = await runStackPolicy(policy, [modelDeployment(), patch]);
        assert.equal(run.violations.length, 1);
    });

    test("HPAs on other Deployments (the router's own HPA) pass, and so do other namespaces", async () => {
        const router = hpa("amlaks-router");
        const elsewhere = hpa("diabetes");
        (elsewhere.props.metadata as Record<string, unknown>).namespace = "other";
        const run = await runStackPolicy(policy, [
            modelDeployment(),
            router,
            { ...elsewhere, name: "hpa-other" },
        ]);
        assert.deepEqual(run.violations, []);
    });

    test("an HPA without a namespace uses the provider's default namespace", async () => {
        const provider = {
            type: "pulumi:providers:kubernetes",
            name: "k8s",
            props: { namespace: NS },
        };
        const h = hpa("diabetes");
        delete (h.props.metadata as Record<string, unknown>).namespace;
        const run = await runStackPolicy(policy, [
            provider,
            modelDeployment(),
            { ...h, provider: "k8s" },
        ]);
        assert.equal(run.violations.length, 1);
        assert.match(run.violations[0]!.message, /"azureml-services\/diabetes-hpa"/);
    });

    test("an HPA carrying model-service labels is refused even when its Deployment is elsewhere", async () => {
        const h = hpa("scorer", "v2", { labels: { "amlaks.io/service": "scorer" } });
        const run = await runStackPolicy(policy, [h]);
        assert.deepEqual(messages(run), [
            `HorizontalPodAutoscaler (autoscaling/v2) "${NS}/scorer-hpa" targets Deployment "${NS}/scorer" and carries the labels of a model service. The amlaks router autoscales model deployments; a Kubernetes autoscaler would compete with it (R29). Remove it and use the web service's autoscale settings.`,
        ]);
    });

    test("a waiver annotation with a reason waives; without a reason it is ignored", async () => {
        const waived = hpa("diabetes", "v2", {
            annotations: {
                "waiver.amlaks.io/no-hpa-on-model-deployments": "load test, removed after 2026-01",
            },
        });
        const run = await runStackPolicy(policy, [modelDeployment(), waived]);
        assert.deepEqual(run.violations, []);
        assert.match(
            run.notApplicable ?? "",
            /waived for .*HorizontalPodAutoscaler::hpa-v2 by annotation waiver\.amlaks\.io\/no-hpa-on-model-deployments: load test, removed after 2026-01/,
        );

        const empty = hpa("diabetes", "v2", {
            annotations: { "waiver.amlaks.io/no-hpa-on-model-deployments": " " },
        });
        assert.deepEqual(messages(await runStackPolicy(policy, [modelDeployment(), empty])), [
            `${HPA_MESSAGE("v2")} (annotation waiver.amlaks.io/no-hpa-on-model-deployments is ignored: a waiver needs a reason)`,
        ]);
    });

    test("a waiver in the policy config (by namespace/name) waives", async () => {
        const run = await runStackPolicy(policy, [modelDeployment(), hpa("diabetes")], {
            "no-hpa-on-model-deployments": {
                waivers: [
                    { resource: `${NS}/diabetes-hpa`, reason: "vendor chart, tracked in OPS-12" },
                ],
            },
        });
        assert.deepEqual(run.violations, []);
    });

    test("a config waiver without a reason is refused by the config schema", async () => {
        await assert.rejects(
            runStackPolicy(policy, [], {
                "no-hpa-on-model-deployments": { waivers: [{ resource: "x", reason: "" }] },
            }),
            /waivers\[0\]\.reason: must have at least 1 character/,
        );
    });

    test("a target unknown during preview is skipped with a reason, never a failure", async () => {
        const h = hpa("diabetes");
        (h.props.spec as { scaleTargetRef: Record<string, unknown> }).scaleTargetRef.name = UNKNOWN;
        const run = await runStackPolicy(policy, [modelDeployment(), h]);
        assert.deepEqual(run.violations, []);
        assert.equal(
            run.notApplicable,
            `HorizontalPodAutoscaler (autoscaling/v2) "${NS}/diabetes-hpa": its target is unknown during preview`,
        );
    });
});
