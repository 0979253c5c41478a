//go:build tools

// Keeps the provider package and the schema code generator in this module's graph, so go.sum
// covers everything the copied main package and generate.go import.
package tools

import (
	_ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	_ "github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
	_ "github.com/pulumi/pulumi/pkg/v3/codegen/schema"
)
