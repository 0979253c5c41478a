/**
 * Pulumi mocks for the AksWebservice tests. Besides the `newResource` inputs, a wrapper around the
 * mock monitor records what mocks do not show: the parent, the resource options that matter here
 * (ignoreChanges, additionalSecretOutputs, replacement) and which inputs were sent as secrets.
 * One `setupMocks()` per test file (each file is its own process).
 */
import { createHash, generateKeyPairSync } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

export interface Recorded {
    type: string;
    name: string;
    inputs: Record<string, Any>;
    provider?: string;
    custom?: boolean;
}

/** What the engine received for a resource (from the RegisterResourceRequest). */
export interface Registration {
    type: string;
    name: string;
    parent: string;
    ignoreChanges: string[];
    additionalSecretOutputs: string[];
    /** Top-level input names whose value contains a secret. */
    secretInputs: string[];
    dependencies: string[];
}

export const LB_IP = "20.1.2.3";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

const keys = new Map<string, { priv: string; pub: string }>();
/** A real P-256 key per logical name (stable within the process, like the state would be). */
function p256For(name: string): { priv: string; pub: string } {
    let k = keys.get(name);
    if (!k) {
        const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
        k = {
            priv: privateKey.export({ format: "pem", type: "pkcs8" }) as string,
            pub: publicKey.export({ format: "pem", type: "spki" }) as string,
        };
        keys.set(name, k);
    }
    return k;
}

/** Deterministic stand-in for RandomPassword: depends on the name and the keepers only. */
export function fakePassword(name: string, keepers: unknown): string {
    return createHash("sha256")
        .update(`${name}|${JSON.stringify(keepers ?? {})}`)
        .digest("base64url")
        .replace(/[-_]/g, "x")
        .slice(0, 32);
}

/** Digest the fake registry gives an image name. */
export function fakeDigest(imageName: string): string {
    const repo = imageName.replace(/:[^/:]+$/, "");
    return `${repo}@sha256:${createHash("sha256").update(imageName).digest("hex")}`;
}

function stateFor(args: pulumi.runtime.MockResourceArgs): {
    id: string;
    state: Record<string, Any>;
} {
    const i = args.inputs;
    switch (args.type) {
        case "random:index/randomPassword:RandomPassword":
            return {
                id: `${args.name}-id`,
                state: { ...i, result: fakePassword(args.name, i.keepers) },
            };
        case "tls:index/privateKey:PrivateKey": {
            const k = p256For(args.name);
            return {
                id: `${args.name}-id`,
                state: {
                    ...i,
                    privateKeyPemPkcs8: k.priv,
                    privateKeyPem: k.priv,
                    publicKeyPem: k.pub,
                },
            };
        }
        case "docker:index/image:Image":
            return { id: `${args.name}-id`, state: { ...i, repoDigest: fakeDigest(i.imageName) } };
        case "kubernetes:core/v1:Service":
            return i.spec?.type === "LoadBalancer"
                ? {
                      id: `${args.name}-id`,
                      state: { ...i, status: { loadBalancer: { ingress: [{ ip: LB_IP }] } } },
                  }
                : { id: `${args.name}-id`, state: { ...i } };
        default:
            return { id: `${args.name}-id`, state: { ...i } };
    }
}

const SIG_KEY = "4dabf18193072939515e22adb298388d";

/** Mocks see secret inputs wrapped as `{ <sig>: <secret sig>, value }`: unwrap them. */
export function reveal(v: unknown): Any {
    if (Array.isArray(v)) return v.map(reveal);
    if (v && typeof v === "object") {
        const o = v as Record<string, unknown>;
        if (o[SIG_KEY] === SECRET_SIG) return reveal(o.value);
        return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, reveal(x)]));
    }
    return v;
}

function containsSecret(v: unknown): boolean {
    return JSON.stringify(v ?? null).includes(SECRET_SIG);
}

/** Installs the mocks; returns the live lists of `newResource` calls and registrations. */
export function setupMocks(): { resources: Recorded[]; registrations: Registration[] } {
    const resources: Recorded[] = [];
    const registrations: Registration[] = [];
    void pulumi.runtime.setMocks(
        {
            newResource(args) {
                args = { ...args, inputs: reveal(args.inputs) };
                resources.push({
                    type: args.type,
                    name: args.name,
                    inputs: args.inputs,
                    provider: args.provider,
                    custom: args.custom,
                });
                return stateFor(args);
            },
            call: (args) => args.inputs,
        },
        "amlaks",
        "test",
        false,
    );
    const monitor = pulumi.runtime.getMonitor() as Any;
    const original = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req: Any, callback: Any) => {
        const object = req.getObject()?.toJavaScript() ?? {};
        registrations.push({
            type: req.getType(),
            name: req.getName(),
            parent: req.getParent(),
            ignoreChanges: req.getIgnorechangesList(),
            additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
            secretInputs: Object.keys(object).filter((k) => containsSecret(object[k])),
            dependencies: req.getDependenciesList(),
        });
        return original(req, callback);
    };
    return { resources, registrations };
}

/** Resolves an Output's value. */
export function unwrap<T>(o: pulumi.Input<T>): Promise<T> {
    return (pulumi.output(o) as Any).promise() as Promise<T>;
}

// Same settle loop as the cluster tests use.
export { settle } from "../cluster/mocks";

/** The one entry of `type` named `name`; throws when not exactly one. */
export function one<T extends { type: string; name: string }>(
    list: T[],
    type: string,
    name: string,
): T {
    const found = list.filter((r) => r.type === type && r.name === name);
    if (found.length !== 1) {
        throw new Error(
            `expected one ${type} named ${name}, found ${found.length}: ${list.map((r) => `${r.type}/${r.name}`).join(", ")}`,
        );
    }
    return found[0];
}
