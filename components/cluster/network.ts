/**
 * IPv4 address and CIDR arithmetic for the AKS network rules (R11; aml-v1-spec §2.1, S9). Pure.
 */

/** A parsed IPv4 CIDR block. `address` is what was written, `network` the block's first address. */
export interface Cidr {
    readonly text: string;
    readonly address: number;
    readonly prefix: number;
    readonly network: number;
    /** Last address of the block (the broadcast address). */
    readonly last: number;
}

/** Parses a dotted-quad IPv4 address to an unsigned 32-bit number; `undefined` when malformed. */
export function parseIpv4(text: string): number | undefined {
    if (typeof text !== "string") return undefined;
    const parts = text.split(".");
    if (parts.length !== 4) return undefined;
    let n = 0;
    for (const p of parts) {
        // No signs, no spaces, no leading zeros (they read as octal in some tools).
        if (!/^(0|[1-9]\d{0,2})$/.test(p)) return undefined;
        const v = Number(p);
        if (v > 255) return undefined;
        n = n * 256 + v;
    }
    return n;
}

/** Formats an unsigned 32-bit number as a dotted quad. */
export function formatIpv4(n: number): string {
    return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

function mask(prefix: number): number {
    return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parses `a.b.c.d/n`; `undefined` when malformed. Host bits may be set (see {@link isNetworkAligned}). */
export function parseCidr(text: string): Cidr | undefined {
    if (typeof text !== "string") return undefined;
    const m = /^([^/]+)\/(\d{1,2})$/.exec(text.trim());
    if (!m) return undefined;
    const address = parseIpv4(m[1]);
    const prefix = Number(m[2]);
    if (address === undefined || prefix > 32) return undefined;
    const network = (address & mask(prefix)) >>> 0;
    const last = (network | (~mask(prefix) >>> 0)) >>> 0;
    return { text, address, prefix, network, last };
}

/** True when the written address is the block's network address (no host bits set). */
export function isNetworkAligned(c: Cidr): boolean {
    return c.address === c.network;
}

/** True when two blocks share at least one address. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
    return a.network <= b.last && b.network <= a.last;
}

/** True when `ip` lies inside block `c`. */
export function cidrContains(c: Cidr, ip: number): boolean {
    return ip >= c.network && ip <= c.last;
}

/**
 * Ranges AKS refuses for the service CIDR (AKS "configure kubenet / Azure CNI" docs): link-local,
 * the two ranges AKS reserves for itself, and TEST-NET-1.
 */
export const AKS_RESERVED_SERVICE_RANGES: readonly string[] = [
    "169.254.0.0/16",
    "172.30.0.0/16",
    "172.31.0.0/16",
    "192.0.2.0/24",
];

/** kube-apiserver refuses service ranges larger than /12 (20 host bits). */
export const MAX_SERVICE_CIDR_PREFIX_BITS = 12;
