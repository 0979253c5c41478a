/**
 * Quick start on Azure: the seed article's v1 flow as one Pulumi program. Each step names the v1
 * SDK call it replaces (docs/migration-from-v1.md maps every parameter).
 *
 *   pulumi config set azure-native:location westeurope
 *   pulumi up
 *
 * Needs, where `pulumi up` runs: `az login` (or another Azure credential), Docker (the environment
 * image, the thin code-and-models image and the router image are built and pushed to the
 * workspace registry) and `kubelogin` on PATH (the cluster has local accounts disabled).
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
// In your own program: import { ... } from "@amlaks/pulumi-aml-aks";
import { AksInferenceCluster, AksWebservice, AmlWorkspace, ModelImage } from "../../index";

const config = new pulumi.Config();
const location = new pulumi.Config("azure-native").require("location");
// The bundled diabetes sample: score.py (init()/run()) and its model file.
const sample = path.join(__dirname, "..", "sample");

// ws = Workspace.create(name="ml", location=...)
const ws = new AmlWorkspace("ml", { location });

// aks_target = ComputeTarget.create(ws, "myaks", AksCompute.provisioning_configuration(
//     cluster_purpose=AksCompute.ClusterPurpose.DEV_TEST, agent_count=1, vm_size="Standard_D4s_v3"))
// Region, resource group, registry and Log Analytics come from the workspace.
const cluster = new AksInferenceCluster("myaks", {
    workspace: ws,
    clusterPurpose: "DevTest",
    agentCount: 1,
    vmSize: "Standard_D4s_v3",
    // Unset: the router image is built from this package and pushed to the workspace registry.
    routerImage: config.get("routerImage"),
});

// env = Environment.from_conda_specification("diabetes-env", "environment.yml")
// Looked up by content hash in the workspace registry; built and pushed only when absent.
const env = new ModelImage("diabetes-env", {
    registryServer: ws.acrLoginServer,
    condaFile: path.join(__dirname, "environment.yml"),
});

// inference_config = InferenceConfig(entry_script="score.py", source_directory=sample, environment=env)
// deployment_config = AksWebservice.deploy_configuration(cpu_cores=1, memory_gb=1)
// service = Model.deploy(ws, "myservice", [model], inference_config, deployment_config, aks_target)
const service = new AksWebservice("myservice", {
    cluster,
    image: env,
    registryServer: ws.acrLoginServer,
    entryScript: "score.py",
    sourceDirectory: sample,
    models: [path.join(sample, "model", "sklearn_regression_model.json")],
    cpuCores: 1,
    memoryGb: 1,
});

// service.scoring_uri, service.swagger_uri, service.get_keys()
export const scoringUri = service.scoringUri;
export const swaggerUri = service.swaggerUri;
export const primaryKey = service.primaryKey; // secret
export const secondaryKey = service.secondaryKey; // secret
export const environmentImage = env.imageRef;
export const kubeconfig = cluster.kubeconfig; // secret: kubectl access (kubelogin)
