/**
 * examples/gpu under Pulumi mocks: a GPU service on a cluster created with a GPU size, and the
 * refusal of the same service on a CPU size.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { environmentHash } from "../../components/image/hash";
import {
    EXAMPLES,
    modelContainer,
    one,
    runExample,
    validateKubernetesObjects,
    type ExampleRun,
} from "./harness";
import { startRegistryDouble, type RegistryDouble } from "./registry-double";

const DIR = path.join(EXAMPLES, "gpu");
const README = readFileSync(path.join(DIR, "README.md"), "utf8");
const ROUTER_IMAGE = `registry.example.io/amlaks-router@sha256:${"a".repeat(64)}`;
const CUDA_BASE = "mcr.microsoft.com/azureml/openmpi4.1.0-cuda11.8-cudnn8-ubuntu22.04:latest";
const PYTHON = process.env.AMLAKS_PYTHON ?? "python3";

let registry: RegistryDouble;
let run: ExampleRun;
const options = () => ({
    providerConfig: { "azure-native:location": "westeurope" },
    config: { routerImage: ROUTER_IMAGE },
    registryServer: registry.host,
    policyConfig: {},
});

before(async () => {
    registry = await startRegistryDouble();
    run = await runExample("gpu", options());
});
after(() => registry?.close());

describe("examples/gpu", () => {
    test("one Standard_NC4as_T4_v3 node and the NVIDIA device plugin", () => {
        const aks = one(run, "azure-native:containerservice:ManagedCluster");
        assert.deepEqual(
            aks.inputs.agentPoolProfiles.map((p: { count: number; vmSize: string }) => [
                p.count,
                p.vmSize,
            ]),
            [[1, "Standard_NC4as_T4_v3"]],
        );
        const plugin = one(run, "kubernetes:apps/v1:DaemonSet", "gpu-nvidia-device-plugin");
        assert.equal(plugin.inputs.metadata.namespace, "kube-system");
        assert.equal(plugin.inputs.metadata.name, "nvidia-device-plugin-daemonset-azureml");
        assert.equal(
            plugin.inputs.spec.template.spec.containers[0].image,
            "nvcr.io/nvidia/k8s-device-plugin:v0.17.0",
        );
        assert.ok(README.includes("nvidia-device-plugin-daemonset-azureml"));
        assert.equal(run.outputs.gpuEnabled, true);
    });

    test("the model pod: one GPU as a limit, the GPU toleration, no surge, one replica owned by Pulumi", () => {
        const c = modelContainer(run, "diabetes-gpu");
        assert.deepEqual(c.resources, {
            limits: { "nvidia.com/gpu": "1" },
            requests: { cpu: "1", memory: "4Gi" },
        });
        const d = one(run, "kubernetes:apps/v1:Deployment", "diabetes-gpu-deployment");
        assert.ok(
            d.inputs.spec.template.spec.tolerations.some(
                (t: { key: string; operator: string }) =>
                    t.key === "nvidia.com/gpu" && t.operator === "Exists",
            ),
        );
        assert.deepEqual(d.inputs.spec.strategy.rollingUpdate, { maxSurge: 0, maxUnavailable: 1 });
        assert.equal(d.inputs.spec.replicas, 1);
        const settings = JSON.parse(d.inputs.metadata.annotations["amlaks.io/settings"]);
        assert.equal(settings.autoscaleEnabled, false);
        assert.equal(settings.numReplicas, 1);
    });

    test("the CUDA environment image, named by the hash in the README", () => {
        const hash = environmentHash({
            baseImage: CUDA_BASE,
            condaYaml: readFileSync(path.join(DIR, "environment.yml"), "utf8"),
        });
        assert.ok(README.includes(`azureml/azureml_${hash}`));
        assert.ok(README.includes(CUDA_BASE));
        assert.ok(registry.lookups.includes(`azureml/azureml_${hash}:${hash}`));
        assert.match(String(run.outputs.environmentImage), new RegExp(`azureml_${hash}@`));
        for (const name of Object.keys(run.outputs)) {
            assert.ok(README.includes(`    ${name} `), `README lists output ${name}`);
        }
    });

    test("every Kubernetes object matches the OpenAPI schema; only the advisory plain-HTTP finding", () => {
        assert.ok(validateKubernetesObjects(run) >= 16);
        assert.deepEqual(
            run.evaluation.violations.map((v) => [v.policy, v.enforcementLevel]),
            [["public-endpoint-tls", "advisory"]],
        );
    });

    test("on a CPU vmSize the service is refused with the README's message", async () => {
        const o = options();
        await assert.rejects(
            runExample("gpu", { ...o, config: { ...o.config, vmSize: "Standard_D4s_v3" } }),
            (e: Error) => {
                assert.equal(e.name, "ValidationError");
                assert.ok(README.includes(`\nValidationError: ${e.message}\n`), e.message);
                assert.match(e.message, /gpuCores: 1 needs a cluster created with a GPU VM size/);
                return true;
            },
        );
    });

    test("score.py compiles (it needs a GPU to run)", () => {
        execFileSync(PYTHON, ["-m", "py_compile", path.join(DIR, "src", "score.py")], {
            env: { ...process.env, PYTHONDONTWRITEBYTECODE: "1", PYTHONPYCACHEPREFIX: "/tmp" },
        });
    });
});
