/**
 * Application Insights connection strings (`InstrumentationKey=<guid>;IngestionEndpoint=https://...`),
 * checked before an exporter is built so a wrong value fails at start with a clear message.
 * Pure and dependency-free: the cluster component checks the same rule on plain values. Nothing
 * here ever returns or echoes the value.
 */

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The fields of a connection string, keys lower-cased. */
function fields(connectionString: string): Map<string, string> {
    const out = new Map<string, string>();
    for (const part of connectionString.split(";")) {
        const eq = part.indexOf("=");
        if (eq <= 0) continue;
        out.set(part.slice(0, eq).trim().toLowerCase(), part.slice(eq + 1).trim());
    }
    return out;
}

/**
 * What is wrong with `connectionString`, as the end of a sentence naming the field ("must ..."),
 * or `undefined` when the Azure Monitor exporter can use it.
 */
export function connectionStringProblem(connectionString: string): string | undefined {
    const f = fields(connectionString);
    const expected =
        "must be an Application Insights connection string, InstrumentationKey=<GUID>;IngestionEndpoint=https://<region>.in.applicationinsights.azure.com/ (Azure portal: Application Insights > Overview)";
    const key = f.get("instrumentationkey");
    if (key === undefined) return `${expected}; it has no InstrumentationKey`;
    if (!GUID.test(key)) return `${expected}; its InstrumentationKey is not a GUID`;
    const endpoint = f.get("ingestionendpoint");
    if (endpoint !== undefined) {
        let url: URL | undefined;
        try {
            url = new URL(endpoint);
        } catch {
            url = undefined;
        }
        if (!url || (url.protocol !== "https:" && url.protocol !== "http:")) {
            return `${expected}; its IngestionEndpoint is not an http(s) URL`;
        }
    }
    return undefined;
}

/** The instrumentation key, to scrub it from error messages; undefined when absent. */
export function instrumentationKeyOf(connectionString: string): string | undefined {
    return fields(connectionString).get("instrumentationkey") || undefined;
}
