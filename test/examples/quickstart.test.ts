/**
 * examples/quickstart under Pulumi mocks: what its README promises (resources, environment hash,
 * the model Deployment, outputs, policy findings).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { environmentHash } from "../../components/image/hash";
import { DEFAULT_BASE_IMAGE } from "../../components/image/model-image";
import {
    EXAMPLES,
    envOf,
    LB_IP,
    modelContainer,
    one,
    ofType,
    runExample,
    validateKubernetesObjects,
    type ExampleRun,
} from "./harness";
import { startRegistryDouble, type RegistryDouble } from "./registry-double";

const DIR = path.join(EXAMPLES, "quickstart");
const README = readFileSync(path.join(DIR, "README.md"), "utf8");
const ROUTER_IMAGE = `registry.example.io/amlaks-router@sha256:${"a".repeat(64)}`;

let registry: RegistryDouble;
let run: ExampleRun;

before(async () => {
    registry = await startRegistryDouble();
    run = await runExample("quickstart", {
        providerConfig: { "azure-native:location": "westeurope" },
        config: { routerImage: ROUTER_IMAGE },
        registryServer: registry.host,
        policyConfig: {},
    });
});
after(() => registry?.close());

describe("examples/quickstart", () => {
    test("creates the four components and no v1 compute", () => {
        for (const t of ["AmlWorkspace", "AksInferenceCluster", "ModelImage", "AksWebservice"]) {
            assert.equal(ofType(run, `amlaks:index:${t}`).length, 1, t);
        }
        assert.deepEqual(ofType(run, "azure-native:machinelearningservices:Compute"), []);
        assert.equal(ofType(run, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler").length, 0);
    });

    test("a DevTest cluster of 1 x Standard_D4s_v3 in the workspace's region and resource group", () => {
        const aks = one(run, "azure-native:containerservice:ManagedCluster");
        const rg = one(run, "azure-native:resources:ResourceGroup");
        assert.equal(aks.inputs.location, "westeurope");
        assert.equal(aks.inputs.resourceGroupName, rg.state.name);
        assert.deepEqual(
            aks.inputs.agentPoolProfiles.map((p: { count: number; vmSize: string }) => [
                p.count,
                p.vmSize,
            ]),
            [[1, "Standard_D4s_v3"]],
        );
        assert.equal(aks.inputs.networkProfile.networkPluginMode, "overlay");
        assert.equal(aks.inputs.networkProfile.networkPolicy, "cilium");
        // The router: one replica on DevTest.
        assert.equal(
            one(run, "kubernetes:apps/v1:Deployment", "myaks-router").inputs.spec.replicas,
            1,
        );
    });

    test("the environment image is looked up by the hash the README names, then built once", () => {
        const hash = environmentHash({
            baseImage: DEFAULT_BASE_IMAGE,
            condaYaml: readFileSync(path.join(DIR, "environment.yml"), "utf8"),
        });
        assert.ok(README.includes(`azureml/azureml_${hash}`), `README names azureml_${hash}`);
        assert.ok(README.includes(DEFAULT_BASE_IMAGE));
        assert.deepEqual(registry.lookups, [`azureml/azureml_${hash}:${hash}`]);
        const build = one(run, "docker:index/image:Image", "diabetes-env-build");
        assert.equal(build.inputs.imageName, `${registry.host}/azureml/azureml_${hash}:${hash}`);
        assert.match(String(run.outputs.environmentImage), new RegExp(`azureml_${hash}@sha256:`));
    });

    test("myservice: cpu 1, memory 1Gi, the sample model where score.py looks, autoscaled 1..10", () => {
        const c = modelContainer(run, "myservice");
        assert.deepEqual(c.resources.requests, { cpu: "1", memory: "1Gi" });
        const env = envOf(c);
        const modelDir = "/var/azureml-app/azureml-models/sklearn_regression_model/1";
        assert.equal(env.AZUREML_MODEL_DIR, modelDir);
        assert.ok(README.includes(`AZUREML_MODEL_DIR=${modelDir}`));
        assert.equal(env.AZUREML_ENTRY_SCRIPT, "score.py");
        const d = one(run, "kubernetes:apps/v1:Deployment", "myservice-deployment");
        assert.equal(d.inputs.metadata.namespace, "azureml-services");
        const settings = JSON.parse(d.inputs.metadata.annotations["amlaks.io/settings"]);
        assert.deepEqual(
            [
                settings.autoscaleEnabled,
                settings.autoscaleMinReplicas,
                settings.autoscaleMaxReplicas,
            ],
            [true, 1, 10],
        );
        assert.equal(settings.autoscaleTargetUtilization, 70);
        // The pods run the thin code-and-models image built FROM the environment image.
        assert.match(c.image, /\/amlaks-apps\/myservice@sha256:/);
        assert.ok(ofType(run, "kubernetes:networking.k8s.io/v1:NetworkPolicy").length === 1);
    });

    test("outputs: v1's scoring and swagger URLs on the router's address; keys and kubeconfig secret", () => {
        assert.equal(run.outputs.scoringUri, `http://${LB_IP}/api/v1/service/myservice/score`);
        assert.equal(
            run.outputs.swaggerUri,
            `http://${LB_IP}/api/v1/service/myservice/swagger.json`,
        );
        assert.deepEqual(run.secretOutputs.sort(), ["kubeconfig", "primaryKey", "secondaryKey"]);
        assert.notEqual(run.outputs.primaryKey, run.outputs.secondaryKey);
        for (const name of Object.keys(run.outputs)) {
            assert.ok(README.includes(`    ${name} `), `README lists output ${name}`);
        }
    });

    test("every Kubernetes object matches the Kubernetes OpenAPI schema", () => {
        assert.ok(validateKubernetesObjects(run) >= 15);
    });

    test("policy pack: only the advisory plain-HTTP finding the README describes", () => {
        assert.deepEqual(
            run.evaluation.violations.map((v) => [v.policy, v.enforcementLevel]),
            [["public-endpoint-tls", "advisory"]],
        );
        assert.ok(README.includes("public-endpoint-tls"));
    });
});
