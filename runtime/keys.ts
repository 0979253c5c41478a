/**
 * The local keys file (R35–R37): key auth keeps the primary and secondary key, token auth keeps
 * the service's private signing key (what `amlaks token` mints tokens with). Written with mode
 * 0600 in a 0700 folder; reused on the next start so clients keep working across restarts (v1
 * keys lived as long as the service). Keys set in the settings file always win.
 */
import {
    chmodSync,
    mkdirSync,
    readFileSync,
    renameSync,
    statSync,
    unlinkSync,
    watch,
    writeFileSync,
    type FSWatcher,
} from "node:fs";
import { basename, dirname } from "node:path";
import type { WebserviceSettings } from "../components/settings";
import { authMode, keyPairProblems } from "../components/settings";
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

/**
 * Creates `dir` and its missing parents (mode 0700), one level at a time. Not
 * `mkdirSync(..., { recursive: true })`: under /proc it loops forever at 100% CPU in Node 20
 * (mkdir answers ENOENT for a parent that exists), which blocked even SIGTERM (issue 15).
 */
export function makeDirectory(dir: string): void {
    const missing: string[] = [];
    for (let d = dir; ; d = dirname(d)) {
        let isDir: boolean;
        try {
            isDir = statSync(d).isDirectory();
        } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
            if (dirname(d) === d) throw err;
            missing.push(d);
            continue;
        }
        if (!isDir) throw new Error(`${d} is not a directory`);
        break;
    }
    for (const d of missing.reverse()) mkdirSync(d, { mode: 0o700 });
}

/**
 * Checks, before anything listens, that the keys file can be written where asked: creates its
 * folder and a probe file next to it, then removes the probe. Returns why not, or undefined.
 */
export function keysFileProblem(path: string): string | undefined {
    const probe = `${path}.${process.pid}.probe`;
    try {
        makeDirectory(dirname(path));
        writeFileSync(probe, "", { mode: 0o600 });
        unlinkSync(probe);
        return undefined;
    } catch (err) {
        return `cannot be written (${(err as Error).message}); give a path in a folder you can write to`;
    }
}

/** Writes the keys file atomically with mode 0600 (folder 0700 when created). */
export function writeKeysFile(path: string, content: KeysFile): void {
    makeDirectory(dirname(path));
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600 });
    chmodSync(tmp, 0o600); // umask cannot widen it, but an existing tmp file could
    renameSync(tmp, path);
}

/**
 * Keys of a key-auth service read back from its keys file at run time (rotation): the file must
 * be this service's, in key mode, with two valid, different keys (the settings rules). Returns
 * the keys or why the file is refused — the reason never contains a key.
 */
export function parseRotatedKeys(
    text: string,
    service: string,
): { primaryKey: string; secondaryKey: string } | { problem: string } {
    let parsed: Partial<KeysFile>;
    try {
        parsed = JSON.parse(text) as Partial<KeysFile>;
    } catch (err) {
        return { problem: `not JSON (${(err as Error).message.split("\n")[0]})` };
    }
    if (!parsed || typeof parsed !== "object") return { problem: "not a JSON object" };
    if (parsed.format !== KEYS_FILE_FORMAT)
        return { problem: `format must be "${KEYS_FILE_FORMAT}"` };
    if (parsed.service !== service) return { problem: `service must be "${service}"` };
    if (parsed.authMode !== "key") return { problem: 'authMode must be "key"' };
    const problems = keyPairProblems(parsed.primaryKey, parsed.secondaryKey);
    if (parsed.primaryKey === undefined) problems.push({ field: "primaryKey", rule: "is missing" });
    if (parsed.secondaryKey === undefined)
        problems.push({ field: "secondaryKey", rule: "is missing" });
    if (problems.length > 0) {
        return { problem: problems.map((p) => `${p.field} ${p.rule}`).join("; ") };
    }
    return { primaryKey: parsed.primaryKey as string, secondaryKey: parsed.secondaryKey as string };
}

/** Watches a key-auth service's keys file; see {@link watchKeysFile}. */
export interface KeysFileWatch {
    /** Reads the file now (what the watch and the poll do); resolves when applied or refused. */
    check(): void;
    close(): void;
}

/**
 * Key rotation at run time (R36, v1 `regen_key`): the keys file is re-read when it changes
 * (directory watch, plus a poll for file systems where watching misses renames). A valid file's
 * keys go to `apply`; a bad one (`parseRotatedKeys`) is logged and the current keys stay — a
 * half-written or wrong file must never lock clients out. Write the file atomically (rename).
 */
export function watchKeysFile(opts: {
    readonly path: string;
    readonly service: string;
    readonly apply: (keys: { primaryKey: string; secondaryKey: string }) => void;
    readonly logger: {
        info(obj: object, msg: string): void;
        warn(obj: object, msg: string): void;
    };
    /** @default 2000 */
    readonly pollMs?: number;
}): KeysFileWatch {
    const { path, service, apply, logger } = opts;
    let lastText: string | undefined;
    try {
        lastText = readFileSync(path, "utf8");
    } catch {
        lastText = undefined;
    }
    let debounce: NodeJS.Timeout | undefined;
    const check = (): void => {
        let text: string;
        try {
            text = readFileSync(path, "utf8");
        } catch {
            return; // between unlink and rename, or removed: keep the current keys
        }
        if (text === lastText) return;
        lastText = text;
        const parsed = parseRotatedKeys(text, service);
        if ("problem" in parsed) {
            logger.warn(
                { keysFile: path, problem: parsed.problem },
                `keys file ${path} not applied (${parsed.problem}); keeping the current keys`,
            );
            return;
        }
        apply(parsed);
        logger.info({ keysFile: path }, `keys reloaded from ${path}`);
    };
    const schedule = (): void => {
        if (debounce) clearTimeout(debounce);
        debounce = setTimeout(check, 100);
        debounce.unref();
    };
    let watcher: FSWatcher | undefined;
    try {
        watcher = watch(dirname(path), (_event, name) => {
            if (!name || name.toString() === basename(path)) schedule();
        });
        watcher.on("error", () => undefined);
    } catch {
        watcher = undefined; // polling only
    }
    const poll = setInterval(check, opts.pollMs ?? 2000);
    poll.unref();
    return {
        check,
        close: () => {
            watcher?.close();
            clearInterval(poll);
            if (debounce) clearTimeout(debounce);
        },
    };
}
