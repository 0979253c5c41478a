/** Readiness probe of the model-server contract (aml-v1-spec §5): `GET /` → 200 "Healthy". */
import http from "node:http";

/** True when `GET <baseUrl>/` answers 200 within `timeoutMs`; false on any error. */
export function probeHealthy(baseUrl: string, timeoutMs = 1000): Promise<boolean> {
    return new Promise((resolve) => {
        let done = false;
        const finish = (ok: boolean): void => {
            if (done) return;
            done = true;
            resolve(ok);
        };
        const req = http.get(`${baseUrl}/`, { agent: false, timeout: timeoutMs }, (res) => {
            res.resume();
            finish(res.statusCode === 200);
        });
        req.on("timeout", () => {
            req.destroy();
            finish(false);
        });
        req.on("error", () => finish(false));
    });
}
