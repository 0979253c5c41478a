/**
 * What the inferred multi-language schema of the package (provider/) must hold, shared by the
 * in-process analyzer test (schema.test.ts) and the real CLI's `pulumi package get-schema`
 * (test/e2e/package-schema.e2e.ts): the four components under the TypeScript type tokens, the
 * inputs and outputs other languages rely on, and only references that bind.
 */
import assert from "node:assert/strict";

export interface SchemaProperty {
    readonly type?: string;
    readonly $ref?: string;
    readonly plain?: boolean;
    readonly items?: SchemaProperty;
    readonly additionalProperties?: SchemaProperty;
}
export interface SchemaResource {
    readonly isComponent?: boolean;
    readonly inputProperties?: Record<string, SchemaProperty>;
    readonly requiredInputs?: string[];
    readonly properties?: Record<string, SchemaProperty>;
}
export interface PackageSchema {
    readonly name: string;
    readonly version?: string;
    readonly resources: Record<string, SchemaResource>;
    readonly types?: Record<string, { properties?: Record<string, SchemaProperty> }>;
}

/** `type` of a property, or its `$ref`. */
function kind(p: SchemaProperty | undefined): string | undefined {
    return p?.type ?? p?.$ref;
}

/** Per component: input → type, output → type (a selection: what programs wire together). */
const EXPECTED: Record<
    string,
    { inputs: Record<string, string>; required: string[]; outputs: Record<string, string> }
> = {
    AmlWorkspace: {
        inputs: { location: "string", resourceGroupName: "string", sku: "string", tags: "object" },
        required: ["location"],
        outputs: {
            workspaceId: "string",
            workspaceName: "string",
            acrLoginServer: "string",
            storageAccountName: "string",
            logAnalyticsWorkspaceId: "string",
            applicationInsightsConnectionString: "string",
        },
    },
    AksInferenceCluster: {
        inputs: {
            workspace: "#/types/amlaks:index:WorkspaceLike",
            kubeconfig: "string",
            resourceId: "string",
            location: "string",
            clusterPurpose: "string",
            agentCount: "number",
            vmSize: "string",
            routerImage: "string",
            routerNamespace: "string",
            routerWatchNamespaces: "array",
            routerServiceType: "string",
        },
        required: [],
        outputs: {
            kubeconfig: "string",
            clusterId: "string",
            scoringBaseUrl: "string",
            gpuEnabled: "boolean",
            routerNamespace: "string",
            serviceNamespaces: "array",
            requiredHosts: "array",
        },
    },
    ModelImage: {
        inputs: {
            registryServer: "string",
            registryPassword: "string",
            condaFile: "string",
            pipPackages: "array",
            fallbackRegistries: "array",
        },
        required: ["registryServer"],
        outputs: { imageRef: "string", environmentHash: "string", cacheHit: "boolean" },
    },
    AksWebservice: {
        inputs: {
            cluster: "#/types/amlaks:index:InferenceClusterLike",
            image: "string",
            imageRef: "string",
            modelDelivery: "string",
            entryScript: "string",
            models: "array",
            cpuCores: "number",
            memoryGb: "number",
            autoscaleEnabled: "boolean",
            primaryKey: "string",
            namespace: "string",
        },
        required: ["cluster", "entryScript"],
        outputs: {
            scoringUri: "string",
            swaggerUri: "string",
            primaryKey: "string",
            deploymentName: "string",
            namespace: "string",
            authMode: "string",
        },
    },
};

/** Every `$ref` anywhere in the schema. */
function refs(value: unknown, out: string[] = []): string[] {
    if (Array.isArray(value)) for (const v of value) refs(v, out);
    else if (value && typeof value === "object") {
        for (const [k, v] of Object.entries(value)) {
            if (k === "$ref" && typeof v === "string") out.push(v);
            else refs(v, out);
        }
    }
    return out;
}

/** Asserts the schema; messages name the component and property. */
export function checkSchema(schema: PackageSchema, version: string): void {
    assert.equal(schema.name, "amlaks", "package name (provider/package.json `name`)");
    assert.equal(schema.version, version, "package version (provider/package.json `version`)");
    assert.deepEqual(
        Object.keys(schema.resources).sort(),
        Object.keys(EXPECTED)
            .map((c) => `amlaks:index:${c}`)
            .sort(),
        "exactly the four components, under the type tokens the TypeScript classes register",
    );
    for (const [component, want] of Object.entries(EXPECTED)) {
        const r = schema.resources[`amlaks:index:${component}`]!;
        assert.equal(r.isComponent, true, `${component} is a component`);
        for (const [name, type] of Object.entries(want.inputs)) {
            assert.equal(kind(r.inputProperties?.[name]), type, `${component} input ${name}`);
        }
        assert.deepEqual(
            [...(r.requiredInputs ?? [])].sort(),
            [...want.required].sort(),
            `${component} required inputs`,
        );
        for (const [name, type] of Object.entries(want.outputs)) {
            assert.equal(kind(r.properties?.[name]), type, `${component} output ${name}`);
        }
        // Anything else in the class (a private member in dist/*.d.ts) would be an untyped
        // output: mark it @internal (tsconfig.build.json strips those).
        for (const [name, p] of Object.entries(r.properties ?? {})) {
            assert.notEqual(
                p.$ref,
                "pulumi.json#/Any",
                `${component} has an untyped output "${name}": a member that is not an output ` +
                    "must be @internal (kept out of the declarations the schema is inferred from)",
            );
        }
        // Provider references do not bind (the analyzer emits a resource token for them).
        assert.equal(r.properties?.kubeProvider, undefined, `${component} output kubeProvider`);
    }
    // The cluster object other languages pass to AksWebservice: outputs of the cluster, no provider.
    const link = schema.types?.["amlaks:index:InferenceClusterLike"]?.properties ?? {};
    assert.deepEqual(
        Object.keys(link).sort(),
        [
            "gpuEnabled",
            "gpuKnown",
            "kubernetesVersion",
            "routerNamespace",
            "scoringBaseUrl",
            "serviceNamespaces",
        ],
        "InferenceClusterLike members",
    );
    // Every reference is to a type of this schema: nothing outside it to load, nothing that
    // cannot bind.
    for (const ref of refs(schema)) {
        const local = ref.startsWith("#/types/") && schema.types?.[ref.slice(8)] !== undefined;
        assert.ok(local, `unresolvable reference ${ref}`);
    }
}
