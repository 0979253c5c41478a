// Lint: typescript-eslint (type-aware) plus Pulumi's rules against Outputs in template literals.
import tseslint from "typescript-eslint";
import pulumi from "@pulumi/eslint-plugin";

export default tseslint.config(
    // .tmp and .amlaks hold scratch programs and state of local runs (git-ignored).
    {
        ignores: [
            "dist/**",
            "node_modules/**",
            "**/*.mjs",
            "**/*.js",
            ".ci/**",
            ".tmp/**",
            ".amlaks/**",
        ],
    },
    ...tseslint.configs.recommended,
    {
        languageOptions: {
            parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
        },
        plugins: { "@pulumi": pulumi },
        rules: {
            "@pulumi/no-output-in-template-literal": "error",
            "@pulumi/no-output-instance-in-template-literal": "error",
            "@typescript-eslint/no-floating-promises": "error",
            "@typescript-eslint/no-unused-vars": [
                "error",
                { argsIgnorePattern: "^_", varsIgnorePattern: "^_" },
            ],
        },
    },
    {
        // node:test's describe()/test() return promises the runner itself awaits.
        files: ["test/**/*.ts"],
        rules: { "@typescript-eslint/no-floating-promises": "off" },
    },
);
