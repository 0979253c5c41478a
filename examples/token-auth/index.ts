/**
 * Token auth (v1 `deploy_configuration(token_auth_enabled=True)`, R37): clients send a short-lived
 * JWT instead of a long-lived key, over HTTPS. The cluster takes its region from the workspace
 * (R38: v1's token auth depended on the workspace's region).
 *
 *   pulumi config set azure-native:location westeurope
 *   pulumi config set sslCname scoring.example.com
 *   pulumi config set --secret sslCertPem -- "$(cat fullchain.pem)"
 *   pulumi config set --secret sslKeyPem -- "$(cat privkey.pem)"
 *   pulumi up
 *
 * Tokens: get-token.ts (v1 `service.get_access_token()`). See README.md.
 */
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
// In your own program: import { ... } from "@amlaks/pulumi-aml-aks";
import { AksInferenceCluster, AksWebservice, AmlWorkspace, ModelImage } from "../../index";
import { SERVICE_NAME } from "./get-token";

const config = new pulumi.Config();
const location = new pulumi.Config("azure-native").require("location");
const sample = path.join(__dirname, "..", "sample");

const ws = new AmlWorkspace("ml", { location });

const cluster = new AksInferenceCluster("inference", {
    // Region, resource group, registry and monitoring from the workspace: same region (R38).
    workspace: ws,
    clusterPurpose: "DevTest",
    agentCount: 1,
    vmSize: "Standard_D4s_v3",
    // HTTPS on the router (it terminates TLS): a token is a bearer credential too.
    sslCname: config.require("sslCname"),
    sslCertPem: config.requireSecret("sslCertPem"),
    sslKeyPem: config.requireSecret("sslKeyPem"),
    routerImage: config.get("routerImage"),
});

const env = new ModelImage("diabetes-env", {
    registryServer: ws.acrLoginServer,
    condaFile: path.join(__dirname, "environment.yml"),
});

const service = new AksWebservice(SERVICE_NAME, {
    cluster,
    image: env,
    registryServer: ws.acrLoginServer,
    entryScript: "score.py",
    sourceDirectory: sample,
    models: [path.join(sample, "model", "sklearn_regression_model.json")],
    cpuCores: 0.5,
    memoryGb: 1,
    // Exclusive with key auth (v1 rule): authEnabled is then false, no keys are generated.
    tokenAuthEnabled: true,
});

export const scoringUri = service.scoringUri;
export const authMode = service.authMode;
export const tokenAudience = service.tokenAudience;
export const tokenIssuer = service.tokenIssuer;
export const kubeconfig = cluster.kubeconfig; // secret: what get-token.ts reads the signing key with
