/**
 * Azure Container Registry access with Microsoft Entra credentials (issue 11 item 3). The
 * workspace registry has its admin user off, so anonymous lookups and pushes get HTTP 401. ACR's
 * documented token exchange turns an Entra access token (audience
 * `https://containerregistry.azure.net`) into an ACR refresh token:
 *
 *   POST https://<registry>/oauth2/exchange
 *        grant_type=access_token&service=<registry>&access_token=<entra token>[&tenant=<id>]
 *   → { "refresh_token": "..." }
 *
 * The refresh token is a registry password for user `00000000-0000-0000-0000-000000000000`: the
 * manifest lookup (registry.ts, `POST /oauth2/token` with `grant_type=refresh_token`) and
 * `docker push` (as `az acr login` does) both accept it. Basic auth stays for other registries.
 */
import {
    ACR_REFRESH_TOKEN_USERNAME,
    DEFAULT_LOOKUP_TIMEOUT_MS,
    parseRegistryServer,
    redact,
    RegistryError,
} from "./registry";

/** Scope of Entra tokens for ACR data-plane access. */
export const ACR_ENTRA_SCOPE = "https://containerregistry.azure.net/.default";

/** What a credential must do: `@azure/identity`'s `TokenCredential` fits. */
export interface AccessTokenSource {
    getToken(scopes: string | string[]): Promise<{ token: string } | null>;
}

/** Registry credentials (a username and an ACR refresh token as password). */
export interface RegistryCredentials {
    readonly username: string;
    readonly password: string;
}

/** Azure Container Registry login servers (public and sovereign clouds). */
export function isAcrHost(server: string): boolean {
    const host = parseRegistryServer(server).host.toLowerCase();
    return /^[a-z0-9]+(-[a-z0-9]+)*\.azurecr\.(io|cn|us)$/.test(host);
}

/** Exchanges an Entra access token for an ACR refresh token at `<server>/oauth2/exchange`. */
export async function exchangeForAcrRefreshToken(
    server: string,
    entraAccessToken: string,
    options: { tenantId?: string; timeoutMs?: number } = {},
): Promise<string> {
    const addr = parseRegistryServer(server);
    const body = new URLSearchParams({
        grant_type: "access_token",
        service: addr.host,
        access_token: entraAccessToken,
    });
    if (options.tenantId) body.set("tenant", options.tenantId);
    const secrets = [entraAccessToken];
    let res: Response;
    try {
        res = await fetch(`${addr.baseUrl}/oauth2/exchange`, {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded" },
            body: body.toString(),
            signal: AbortSignal.timeout(options.timeoutMs ?? DEFAULT_LOOKUP_TIMEOUT_MS),
        });
    } catch (e) {
        throw new RegistryError(
            "network",
            addr.host,
            `Cannot reach the token exchange of ${addr.host}: ${redact(String((e as Error)?.message ?? e), secrets)}`,
        );
    }
    if (res.status !== 200) {
        const text = redact((await res.text().catch(() => "")).slice(0, 200), secrets);
        throw new RegistryError(
            res.status === 401 || res.status === 403 ? "auth" : "http",
            addr.host,
            `The token exchange of ${addr.host} refused the Microsoft Entra token (HTTP ${res.status})` +
                `${text ? `: ${text}` : ""}; the identity running pulumi needs AcrPull (lookups) and AcrPush (builds) on the registry`,
            res.status,
        );
    }
    const json = (await res.json().catch(() => ({}))) as { refresh_token?: unknown };
    if (typeof json.refresh_token !== "string" || json.refresh_token === "") {
        throw new RegistryError(
            "protocol",
            addr.host,
            `The token exchange of ${addr.host} returned no refresh_token`,
        );
    }
    return json.refresh_token;
}

/**
 * Registry credentials for an ACR from an Entra credential: an access token for ACR's scope,
 * exchanged for a refresh token.
 */
export async function acrEntraCredentials(
    server: string,
    credential: AccessTokenSource,
    options: { tenantId?: string; timeoutMs?: number } = {},
): Promise<RegistryCredentials> {
    const host = parseRegistryServer(server).host;
    let token: { token: string } | null;
    try {
        token = await credential.getToken(ACR_ENTRA_SCOPE);
    } catch (e) {
        throw new RegistryError(
            "auth",
            host,
            `No Microsoft Entra token for ${host} (${String((e as Error)?.message ?? e).split("\n")[0]}); ` +
                "sign in with `az login`, set AZURE_CLIENT_ID/AZURE_TENANT_ID/AZURE_CLIENT_SECRET, or give registryUsername and registryPassword",
        );
    }
    if (!token?.token) {
        throw new RegistryError("auth", host, `No Microsoft Entra token for ${host}`);
    }
    return {
        username: ACR_REFRESH_TOKEN_USERNAME,
        password: await exchangeForAcrRefreshToken(server, token.token, options),
    };
}

let defaultCredential: AccessTokenSource | undefined;

/** `DefaultAzureCredential` from `@azure/identity` (environment, workload identity, managed identity, Azure CLI...), created once. */
export async function defaultAzureCredential(): Promise<AccessTokenSource> {
    if (!defaultCredential) {
        const identity = await import("@azure/identity");
        defaultCredential = new identity.DefaultAzureCredential();
    }
    return defaultCredential;
}
