/**
 * Registry credentials as Pulumi Outputs: the given username/password, or, for an ACR without
 * them, Microsoft Entra credentials exchanged for an ACR token (acr-auth.ts). Shared by the
 * environment image (ModelImage) and the router image; both look up in preview and push on up.
 */
import * as pulumi from "@pulumi/pulumi";
import {
    acrEntraCredentials,
    defaultAzureCredential,
    isAcrHost,
    type RegistryCredentials,
} from "./acr-auth";
import { RegistryError, registryServerProblem } from "./registry";

/** Username and password to use (both undefined: anonymous / the Docker engine's own). */
export interface ResolvedRegistryAuth {
    readonly username: pulumi.Output<string | undefined>;
    readonly password: pulumi.Output<string | undefined>;
    /** The `registry` credentials of a `docker.Image` pushing to `host` (only what is known). */
    readonly pushCredentials: (host: string) => {
        username?: pulumi.Output<string>;
        password?: pulumi.Output<string>;
    };
}

/**
 * The credentials for `server`: as given; for an ACR without a username, Entra through
 * `DefaultAzureCredential`. In preview a failed sign-in is a warning (the plan still shows).
 */
export function registryAuth(
    server: pulumi.Input<string>,
    username: pulumi.Input<string> | undefined,
    password: pulumi.Input<string> | undefined,
    timeoutMs: number,
    logTo: pulumi.Resource | undefined,
): ResolvedRegistryAuth {
    const entra: pulumi.Output<RegistryCredentials | undefined> = pulumi.secret(
        pulumi.all([server, username]).apply(async ([s, u]) => {
            if (u !== undefined || registryServerProblem(s) || !isAcrHost(s)) return undefined;
            try {
                return await acrEntraCredentials(s, await defaultAzureCredential(), { timeoutMs });
            } catch (e) {
                if (!pulumi.runtime.isDryRun() || !(e instanceof RegistryError)) throw e;
                void pulumi.log.warn(`registry sign-in failed during preview: ${e.message}`, logTo);
                return undefined;
            }
        }),
    );
    const user = pulumi.all([username, entra]).apply(([u, e]) => u ?? e?.username);
    const pass = pulumi.secret(pulumi.all([password, entra]).apply(([p, e]) => p ?? e?.password));
    return {
        username: user,
        password: pass,
        pushCredentials: (host) => {
            const acr = username === undefined && isAcrHost(host);
            return {
                ...(username !== undefined || acr ? { username: user.apply((u) => u ?? "") } : {}),
                ...(password !== undefined || acr ? { password: pass.apply((p) => p ?? "") } : {}),
            };
        },
    };
}
