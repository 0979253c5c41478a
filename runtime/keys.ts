/**
 * The local keys file (R35–R37): key auth keeps the primary and secondary key, token auth keeps
 * the service's private signing key (what `amlaks token` mints tokens with). Written with mode
 * 0600 in a 0700 folder; reused on the next start so clients keep working across restarts (v1
 * keys lived as long as the service). Keys set in the settings file always win.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { WebserviceSettings } from "../components/settings";
import { authMode } from "../components/settings";
import {
    generateServiceKey,
    generateSigningKey,
    tokenAuthConfig,
    defaultTokenAudience,
    DEFAULT_LOCAL_ISSUER,
} from "../router/auth";
import type { JsonWebKeyLike, ServiceAuthConfig } from "../router/types";

export const KEYS_FILE_FORMAT = "amlaks-keys/v1";

/** Content of the keys file. */
export interface KeysFile {
    readonly format: typeof KEYS_FILE_FORMAT;
    readonly service: string;
    readonly authMode: "key" | "token" | "none";
    readonly scoringUri?: string;
    readonly swaggerUri?: string;
    /** Key auth. */
    readonly primaryKey?: string;
    readonly secondaryKey?: string;
    /** Token auth: private JWK (ES256) that signs tokens for this service. */
    readonly signingKey?: JsonWebKeyLike;
    readonly issuer?: string;
    readonly audience?: string;
    /** Token auth: how to get a token. */
    readonly getToken?: string;
}

export interface ServiceAuth {
    readonly auth: ServiceAuthConfig;
    /** What goes into the keys file. */
    readonly file: KeysFile;
    /** Which keys were generated now (the rest came from the settings or the previous file). */
    readonly generated: readonly string[];
}

/** Reads a previous keys file; undefined when absent, unreadable or for another service. */
export function readKeysFile(path: string, service: string): KeysFile | undefined {
    try {
        const parsed = JSON.parse(readFileSync(path, "utf8")) as KeysFile;
        if (parsed && parsed.format === KEYS_FILE_FORMAT && parsed.service === service)
            return parsed;
    } catch {
        // absent or corrupt: new keys are generated
    }
    return undefined;
}

/** Auth config of the service, reusing `previous` keys and generating what is missing. */
export async function resolveServiceAuth(
    settings: WebserviceSettings,
    previous: KeysFile | undefined,
): Promise<ServiceAuth> {
    const mode = authMode(settings);
    const service = settings.name;
    const base = { format: KEYS_FILE_FORMAT, service, authMode: mode } as const;
    const generated: string[] = [];
    if (mode === "key") {
        const reuse = previous?.authMode === "key" ? previous : undefined;
        const pick = (given: string | undefined, old: string | undefined, name: string): string => {
            if (given) return given;
            if (old) return old;
            generated.push(name);
            return generateServiceKey();
        };
        const primaryKey = pick(settings.primaryKey, reuse?.primaryKey, "primaryKey");
        const secondaryKey = pick(settings.secondaryKey, reuse?.secondaryKey, "secondaryKey");
        return {
            auth: { mode, primaryKey, secondaryKey },
            file: { ...base, primaryKey, secondaryKey },
            generated,
        };
    }
    if (mode === "token") {
        let signingKey =
            previous?.authMode === "token" && previous.signingKey?.d
                ? previous.signingKey
                : undefined;
        if (!signingKey) {
            signingKey = (await generateSigningKey("ES256")).privateJwk;
            generated.push("signingKey");
        }
        const issuer = DEFAULT_LOCAL_ISSUER;
        const audience = defaultTokenAudience(service);
        const auth = tokenAuthConfig({ service, publicKeys: [signingKey], issuer, audience });
        return {
            auth,
            file: { ...base, signingKey, issuer, audience },
            generated,
        };
    }
    return { auth: { mode: "none" }, file: base, generated };
}

/** Writes the keys file atomically with mode 0600 (folder 0700 when created). */
export function writeKeysFile(path: string, content: KeysFile): void {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
    chmodSync(tmp, 0o600); // umask cannot widen it, but an existing tmp file could
    renameSync(tmp, path);
}
