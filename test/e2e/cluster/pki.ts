/**
 * Certificates and keys for a throw-away control plane, made with the openssl CLI (Node can sign
 * nothing X.509 by itself): one CA, the API server's serving certificate for 127.0.0.1 (and any
 * extra addresses, such as the one processes in test hosts reach it at), one client
 * certificate per identity (so RBAC sees the admin, the controller-manager and the scheduler as the
 * users their bootstrap roles name), and the service-account signing key pair.
 * ECDSA P-256 throughout: fast to generate and accepted by every component.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface ClientIdentity {
    /** Certificate CN: the Kubernetes user name. */
    readonly user: string;
    /** Certificate O: the Kubernetes groups. */
    readonly groups: readonly string[];
}

export interface ClientCert {
    readonly cert: string;
    readonly key: string;
}

export interface Pki {
    readonly dir: string;
    readonly caCert: string;
    readonly caKey: string;
    readonly serverCert: string;
    readonly serverKey: string;
    readonly serviceAccountKey: string;
    readonly serviceAccountPub: string;
    readonly clients: Readonly<Record<string, ClientCert>>;
}

/** The identities the launcher writes kubeconfigs for. */
export const IDENTITIES = {
    admin: { user: "amlaks-admin", groups: ["system:masters"] },
    controllerManager: { user: "system:kube-controller-manager", groups: [] },
    scheduler: { user: "system:kube-scheduler", groups: [] },
    // kwok writes node and pod status: cluster-admin keeps it simple for a simulator.
    kwok: { user: "amlaks-kwok", groups: ["system:masters"] },
} as const satisfies Record<string, ClientIdentity>;

function openssl(args: string[], cwd: string): void {
    execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
}

function ecKey(cwd: string, file: string): void {
    openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", file], cwd);
}

/** The distinguished name of a client identity, in openssl's `-subj` form. */
export function subjectOf(id: ClientIdentity): string {
    const esc = (s: string): string => s.replace(/[/\\=]/g, (c) => `\\${c}`);
    return `/CN=${esc(id.user)}${id.groups.map((g) => `/O=${esc(g)}`).join("")}`;
}

function sign(cwd: string, name: string, subject: string, ext: string): void {
    ecKey(cwd, `${name}.key`);
    openssl(["req", "-new", "-key", `${name}.key`, "-subj", subject, "-out", `${name}.csr`], cwd);
    writeFileSync(join(cwd, `${name}.ext`), ext);
    openssl(
        [
            "x509",
            "-req",
            "-in",
            `${name}.csr`,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "30",
            "-sha256",
            "-extfile",
            `${name}.ext`,
            "-out",
            `${name}.crt`,
        ],
        cwd,
    );
}

/**
 * Makes every certificate and key under `dir` (created if missing). `extraServerIps` are added to
 * the API server certificate's IP SANs (for example the address pods reach it at).
 */
export function createPki(dir: string, extraServerIps: readonly string[] = []): Pki {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    ecKey(dir, "ca.key");
    openssl(
        [
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-subj",
            "/CN=amlaks-e2e-ca",
            "-days",
            "30",
            "-sha256",
            "-out",
            "ca.crt",
        ],
        dir,
    );
    sign(
        dir,
        "apiserver",
        "/CN=kube-apiserver",
        [
            "basicConstraints=CA:FALSE",
            "keyUsage=digitalSignature,keyEncipherment",
            "extendedKeyUsage=serverAuth",
            "subjectAltName=" +
                [
                    "IP:127.0.0.1",
                    ...extraServerIps.map((ip) => `IP:${ip}`),
                    "DNS:localhost",
                    "DNS:kubernetes",
                    "DNS:kubernetes.default",
                    "DNS:kubernetes.default.svc",
                ].join(","),
        ].join("\n"),
    );
    const clients: Record<string, ClientCert> = {};
    for (const [name, id] of Object.entries(IDENTITIES)) {
        sign(
            dir,
            name,
            subjectOf(id),
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n",
        );
        clients[name] = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
    }
    ecKey(dir, "sa.key");
    openssl(["ec", "-in", "sa.key", "-pubout", "-out", "sa.pub"], dir);
    return {
        dir,
        caCert: join(dir, "ca.crt"),
        caKey: join(dir, "ca.key"),
        serverCert: join(dir, "apiserver.crt"),
        serverKey: join(dir, "apiserver.key"),
        serviceAccountKey: join(dir, "sa.key"),
        serviceAccountPub: join(dir, "sa.pub"),
        clients,
    };
}

/** A kubeconfig for one identity with the certificates inlined, so the file stands alone. */
export function renderKubeconfig(server: string, caCert: string, client: ClientCert): string {
    const b64 = (file: string): string => readFileSync(file).toString("base64");
    return JSON.stringify(
        {
            apiVersion: "v1",
            kind: "Config",
            clusters: [
                {
                    name: "amlaks-e2e",
                    cluster: { server, "certificate-authority-data": b64(caCert) },
                },
            ],
            users: [
                {
                    name: "amlaks-e2e",
                    user: {
                        "client-certificate-data": b64(client.cert),
                        "client-key-data": b64(client.key),
                    },
                },
            ],
            contexts: [
                { name: "amlaks-e2e", context: { cluster: "amlaks-e2e", user: "amlaks-e2e" } },
            ],
            "current-context": "amlaks-e2e",
        },
        null,
        2,
    );
}
