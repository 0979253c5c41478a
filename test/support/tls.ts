/**
 * TLS fixtures: self-signed P-256 certificates made with the openssl CLI (Debian's `openssl`),
 * valid for two days, for `localhost` and 127.0.0.1.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface SelfSignedCert {
    /** PEM certificate and private key. */
    readonly cert: string;
    readonly key: string;
    /** Where they were written: `<dir>/<name>.crt` and `<dir>/<name>.key`. */
    readonly certFile: string;
    readonly keyFile: string;
}

export interface SelfSignedOptions {
    /** Subject common name. @default "localhost" */
    readonly cn?: string;
    /** Folder of the files. @default a new temporary folder */
    readonly dir?: string;
    /** File name without extension. @default "tls" */
    readonly name?: string;
    /** subjectAltName entries. @default ["IP:127.0.0.1", "DNS:localhost"] */
    readonly altNames?: readonly string[];
}

/** A new self-signed certificate and key, written to files and returned as PEM. */
export function selfSignedCert(options: SelfSignedOptions = {}): SelfSignedCert {
    const dir = options.dir ?? mkdtempSync(join(tmpdir(), "amlaks-tls-"));
    const name = options.name ?? "tls";
    const certFile = join(dir, `${name}.crt`);
    const keyFile = join(dir, `${name}.key`);
    const altNames = options.altNames ?? ["IP:127.0.0.1", "DNS:localhost"];
    execFileSync(
        "openssl",
        [
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            keyFile,
            "-out",
            certFile,
            "-days",
            "2",
            "-subj",
            `/CN=${options.cn ?? "localhost"}`,
            ...(altNames.length > 0 ? ["-addext", `subjectAltName=${altNames.join(",")}`] : []),
        ],
        { stdio: "ignore" },
    );
    return {
        cert: readFileSync(certFile, "utf8"),
        key: readFileSync(keyFile, "utf8"),
        certFile,
        keyFile,
    };
}
