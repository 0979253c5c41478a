// Shared helpers of the local-backend tests (real child processes running the fake model server).
import { readFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import pino from "pino";
import {
    validateWebserviceSettings,
    type WebserviceSettingsInput,
} from "../../components/settings";
import type { LocalServiceSpec } from "../../router/backends/local";
import type { BackendListener, Replica, ServiceDefinition } from "../../router/types";

export const FAKE_SERVER = path.join(__dirname, "..", "support", "fake-model-server.mjs");

export function definition(
    name: string,
    extra: Partial<WebserviceSettingsInput> = {},
): ServiceDefinition {
    return {
        name,
        settings: validateWebserviceSettings({ name, ...extra }),
        auth: { mode: "none" },
    };
}

/** A service running the fake model server with `env` knobs. */
export function fakeService(
    name: string,
    env: Record<string, string> = {},
    extra: Partial<LocalServiceSpec> = {},
): LocalServiceSpec {
    return {
        definition: definition(name, { numReplicas: Math.max(1, extra.initialReplicas ?? 1) }),
        command: [process.execPath, FAKE_SERVER],
        env,
        readinessTimeoutMs: 10_000,
        ...extra,
    };
}

/** Records what the backend tells the router. */
export class RecordingListener implements BackendListener {
    readonly services: string[] = [];
    readonly removed: string[] = [];
    readonly updates: { service: string; ids: string[] }[] = [];
    private readonly current = new Map<string, readonly Replica[]>();

    onService(d: ServiceDefinition): void {
        this.services.push(d.name);
    }
    onServiceRemoved(name: string): void {
        this.removed.push(name);
    }
    onReplicas(service: string, replicas: readonly Replica[]): void {
        this.current.set(service, replicas);
        this.updates.push({ service, ids: replicas.map((r) => r.id) });
    }
    ready(service: string): readonly Replica[] {
        return this.current.get(service) ?? [];
    }
}

/** Polls `fn` until it returns a truthy value; fails with `what` after `timeoutMs`. */
export async function waitFor<T>(
    fn: () => T | undefined | null | false,
    what: string,
    timeoutMs = 15_000,
): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const v = fn();
        if (v) return v;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 25));
    }
}

/** True while `pid` is a live process (a zombie counts as dead). */
export function isAlive(pid: number): boolean {
    try {
        process.kill(pid, 0);
    } catch {
        return false;
    }
    try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
    } catch {
        return false;
    }
}

export function httpGet(url: string, method = "GET"): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
        const req = http.request(url, { method, agent: false }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () =>
                resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
            );
        });
        req.on("error", reject);
        req.end();
    });
}

/** A pino logger whose lines land in `lines` (parsed). */
export function capturingLogger(lines: Record<string, unknown>[]): pino.Logger {
    return pino(
        { level: "debug" },
        { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) },
    );
}
