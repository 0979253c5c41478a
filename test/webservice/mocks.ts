/**
 * Fixtures for the AksWebservice tests on the shared mocks (test/support/pulumi-mocks.ts): keys,
 * passwords and image digests as their providers would return them. Inputs are recorded with
 * secret markers removed; `registrations` tell which inputs were secret.
 */
import { createHash, generateKeyPairSync } from "node:crypto";
import type * as pulumi from "@pulumi/pulumi";
import { type Any, installMocks, LB_IP, type MockRecords } from "../support/pulumi-mocks";

export {
    LB_IP,
    one,
    type Recorded,
    type Registration,
    settle,
    unwrap,
} from "../support/pulumi-mocks";

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

/** Installs the mocks with the fixtures above; returns the live records. */
export function setupMocks(): MockRecords {
    return installMocks({ state: stateFor, call: (args) => args.inputs, revealInputs: true });
}
