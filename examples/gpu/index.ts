/**
 * A GPU web service (R7, R9): v1 deployed GPU models only to a cluster created with a GPU VM size
 * (no secondary GPU node pool), with `deploy_configuration(gpu_cores=1)`. Here: an inference
 * cluster of one `Standard_NC4as_T4_v3` node (4 vCPUs, one NVIDIA T4), the NVIDIA device plugin
 * (installed by the component for GPU sizes), a CUDA environment image and one replica with one GPU.
 *
 *   pulumi config set azure-native:location westeurope
 *   pulumi up
 *
 * Needs GPU quota for the NCasT4_v3 family in the region. See README.md.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
// In your own program: import { ... } from "@amlaks/pulumi-aml-aks";
import { AksInferenceCluster, AksWebservice, AmlWorkspace, ModelImage } from "../../index";

/** Azure ML's CUDA 11.8 inference base image (Ubuntu 22.04, OpenMPI, miniconda). */
const CUDA_BASE_IMAGE = "mcr.microsoft.com/azureml/openmpi4.1.0-cuda11.8-cudnn8-ubuntu22.04:latest";

const config = new pulumi.Config();
const location = new pulumi.Config("azure-native").require("location");

const ws = new AmlWorkspace("ml", { location });

const cluster = new AksInferenceCluster("gpu", {
    workspace: ws,
    clusterPurpose: "DevTest",
    agentCount: 1,
    // A GPU size: detected from the SKU table (components/cluster/sizing.ts), so the device plugin
    // is installed and GPU services are accepted. A CPU size here makes the service below fail
    // before anything is created.
    vmSize: config.get("vmSize") ?? "Standard_NC4as_T4_v3",
    routerImage: config.get("routerImage"),
});

const env = new ModelImage("gpu-env", {
    registryServer: ws.acrLoginServer,
    baseImage: CUDA_BASE_IMAGE,
    condaFile: path.join(__dirname, "environment.yml"),
});

const service = new AksWebservice("diabetes-gpu", {
    cluster,
    image: env,
    registryServer: ws.acrLoginServer,
    entryScript: "score.py",
    sourceDirectory: path.join(__dirname, "src"),
    models: [path.join(__dirname, "..", "sample", "model", "sklearn_regression_model.json")],
    gpuCores: 1,
    cpuCores: 1,
    memoryGb: 4,
    // Pods cannot share a GPU: at most one replica per GPU in the cluster (here: one).
    numReplicas: 1,
});

export const scoringUri = service.scoringUri;
export const primaryKey = service.primaryKey; // secret
export const gpuEnabled = cluster.gpuEnabled;
export const environmentImage = env.imageRef;
