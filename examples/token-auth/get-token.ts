/**
 * v1's `service.get_access_token()` for the token-auth service: reads the service's signing key
 * from its Secret in the cluster (cluster RBAC decides who may, as workspace RBAC did in v1) and
 * mints a JWT the router accepts. Prints `{ accessToken, tokenType, refreshAfter, expiryOn }`
 * (epoch seconds), v1's `AksServiceAccessToken` fields.
 *
 *   pulumi stack output kubeconfig --show-secrets > kubeconfig.yaml
 *   KUBECONFIG=kubeconfig.yaml npx tsx get-token.ts
 */
import * as k8s from "@kubernetes/client-node";
// In your own program: import { ... } from "@amlaks/pulumi-aml-aks";
import { authSecretName, getToken, SECRET_SIGNING_KEY, TOKEN_ISSUER } from "../../index";

/** The service's name (and URL path segment). */
export const SERVICE_NAME = "diabetes-token";
/** Where AksWebservice puts services by default. */
export const SERVICE_NAMESPACE = "azureml-services";

/** A token for `service` from its auth Secret's `data` (base64 values, as the API returns them). */
export function tokenFromSecret(
    secret: { readonly data?: Readonly<Record<string, string>> },
    service: string = SERVICE_NAME,
    lifetimeSeconds = 3600,
): ReturnType<typeof getToken> {
    const pem = secret.data?.[SECRET_SIGNING_KEY];
    if (!pem) {
        throw new Error(
            `Secret ${authSecretName(service)} has no ${SECRET_SIGNING_KEY}: is "${service}" a token-auth service?`,
        );
    }
    return getToken({
        service,
        signingKey: Buffer.from(pem, "base64").toString("utf8"),
        issuer: TOKEN_ISSUER,
        lifetimeSeconds,
    });
}

async function main(): Promise<void> {
    const kc = new k8s.KubeConfig();
    kc.loadFromDefault();
    const secret = await kc.makeApiClient(k8s.CoreV1Api).readNamespacedSecret({
        name: authSecretName(SERVICE_NAME),
        namespace: SERVICE_NAMESPACE,
    });
    process.stdout.write(`${JSON.stringify(await tokenFromSecret(secret), null, 2)}\n`);
}

if (require.main === module) {
    main().catch((e: Error) => {
        process.stderr.write(`${e.message}\n`);
        process.exit(1);
    });
}
