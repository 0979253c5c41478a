// The Docker/registry test helpers fail (never skip) when a binary is missing, naming the Debian
// packages to install.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DEBIAN_PACKAGES, MissingToolError, requireTool } from "../support/docker";

test("a missing binary is a failure that names the Debian package", () => {
    assert.throws(
        () => requireTool("amlaks-no-such-binary", "docker-registry"),
        (e: unknown) => {
            assert.ok(e instanceof MissingToolError);
            assert.equal(
                e.message,
                "amlaks-no-such-binary is not installed: these tests need the Debian package " +
                    "docker-registry (apt-get install -y --no-install-recommends " +
                    `${DEBIAN_PACKAGES})`,
            );
            return true;
        },
    );
});

test("installed tools resolve to absolute paths", () => {
    assert.match(requireTool("docker-registry", "docker-registry"), /^\/.*\/docker-registry$/);
    assert.match(requireTool("dockerd", "docker.io"), /^\/.*\/dockerd$/);
});
