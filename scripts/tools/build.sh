#!/usr/bin/env bash
# Builds the real tools the end-to-end tests run against, from pinned Go module versions:
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok,
#   pulumi (CLI + engine), pulumi-language-nodejs (runs Node.js programs),
#   pulumi-language-yaml (runs YAML programs), pulumi-resource-kubernetes (the Kubernetes provider).
# The versions live in the wrapper modules under tools/<name>/go.mod (and tools/*/VERSION).
#
# Output goes to a cache outside the repository, one folder per tool keyed by a hash of its wrapper
# module files and of this script, so a version change rebuilds only that tool and an unchanged one
# is reused:   $AMLAKS_TOOLS_DIR/<tool>-<key>/...   (default ~/.cache/amlaks-tools)
# and $AMLAKS_TOOLS_DIR/bin/ holds symlinks to the current builds (what the launcher puts on PATH).
#
# Usage: scripts/tools/build.sh [tool ...]     (no argument: all of them)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${AMLAKS_TOOLS_DIR:-$HOME/.cache/amlaks-tools}
mkdir -p "$cache/bin"
export GOFLAGS="${GOFLAGS:--buildvcs=false} -mod=readonly"
export CGO_ENABLED=0
shopt -s nullglob

log() { printf '[tools %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

# key <tool> <build function>: hash of everything that decides the tool's build: its wrapper module
# files and the recipe itself.
key() {
    local d="$repo/tools/$1"
    { cat "$d"/go.mod "$d"/go.sum "$d"/*.go "$d"/[V]ERSION && declare -f "$2"; } |
        sha256sum | cut -c1-16
}

# moddir <module>: where the wrapper's version of a module is unpacked (downloaded first: on a
# fresh machine nothing is in the module cache yet, and `go list` then reports no folder).
moddir() {
    go mod download "$1" && go list -m -f '{{.Dir}}' "$1"
}

# required <tool> <module>: the version the wrapper's go.mod requires.
required() {
    (cd "$repo/tools/$1" && go list -m -f '{{.Version}}' "$2")
}

link() { # link <dir> <binary...>
    local dir=$1
    shift
    # Hard links, not symlinks: the Pulumi CLI looks for its language host next to its own resolved
    # path, so every binary must really be in bin/.
    for b in "$@"; do ln -f "$dir/$b" "$cache/bin/$b"; done
}

# build_tool <tool> <build function> <binaries...>
build_tool() {
    local tool=$1 fn=$2
    shift 2
    local dir
    dir="$cache/$tool-$(key "$tool" "$fn")"
    if [ -f "$dir/.complete" ]; then
        log "$tool: cached ($dir)"
    else
        log "$tool: building into $dir"
        local t0=$SECONDS
        rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
        (cd "$repo/tools/$tool" && "$fn" "$dir.tmp")
        rm -rf "$dir" && mv "$dir.tmp" "$dir" && touch "$dir/.complete"
        log "$tool: built in $((SECONDS - t0)) s"
    fi
    link "$dir" "$@"
}

build_etcd() {
    go build -trimpath -ldflags "-s -w" -o "$1/etcd" go.etcd.io/etcd/server/v3
}

build_kubernetes() {
    local v minor
    v=$(required kubernetes k8s.io/kubernetes)
    minor=$(echo "$v" | cut -d. -f2)
    # Without these the servers report v0.0.0-master, which clients that check the version refuse.
    local ld="-s -w -X k8s.io/component-base/version.gitVersion=$v -X k8s.io/component-base/version.gitMajor=1"
    ld="$ld -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
    go build -trimpath -ldflags "$ld" -o "$1/" \
        k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler
}

build_kwok() {
    go build -trimpath -ldflags "-s -w" -o "$1/kwok" sigs.k8s.io/kwok/cmd/kwok
    # kwok simulates nothing without Stage objects: take the "fast" node and pod stages that the
    # same module ships (nodes Ready at once and kept Ready by a heartbeat, pods Running and Ready
    # at once, deletion honoured).
    local stages f
    stages="$(moddir sigs.k8s.io/kwok)/kustomize/stage"
    for f in "$stages"/node/fast/node-initialize.yaml "$stages"/node/heartbeat/node-heartbeat.yaml "$stages"/pod/fast/pod-{ready,complete,delete}.yaml; do
        cat "$f" && printf '\n---\n'
    done >"$1/kwok-stages.yaml"
}

build_pulumi() {
    local v
    v=$(required pulumi github.com/pulumi/pulumi/pkg/v3)
    go build -trimpath -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$v" \
        -o "$1/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
}

build_pulumi_language_nodejs() {
    # Listed in go.sum; the checksum database has no entry for this untagged module.
    GONOSUMDB=github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs \
        go build -trimpath -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$(cat VERSION)" \
        -o "$1/pulumi-language-nodejs" github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3
}

build_pulumi_language_yaml() {
    local v
    v=$(required pulumi-language-yaml github.com/pulumi/pulumi-yaml)
    # The host reports this version to the engine; unset it would be empty.
    go build -trimpath -ldflags "-s -w -X github.com/pulumi/pulumi-yaml/pkg/version.Version=${v#v}" \
        -o "$1/pulumi-language-yaml" github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml
}

build_pulumi_kubernetes() {
    local v mod src work
    v=$(cat VERSION)
    mod=$(moddir github.com/pulumi/pulumi-kubernetes/provider/v4)
    # The provider's main package embeds two JSON files that upstream generates and git-ignores, so
    # they are not in the module zip: copy the package next to a copy of this wrapper and make them.
    work="$1/src"
    mkdir -p "$work/cmd"
    cp go.mod go.sum tools.go "$work/"
    src="$work/cmd/pulumi-resource-kubernetes"
    cp -r "$mod/cmd/pulumi-resource-kubernetes" "$src"
    chmod -R u+w "$work"
    (cd "$src" && VERSION="$v" go run generate.go)
    (cd "$work" && go build -trimpath \
        -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=$v" \
        -o "$1/pulumi-resource-kubernetes" ./cmd/pulumi-resource-kubernetes)
    rm -rf "$work"
}

# The npm SDK asks the engine for exactly the provider version it was generated with.
check_kubernetes_sdk_pin() {
    local want have
    want=$(cat "$repo/tools/pulumi-kubernetes/VERSION")
    have=$(node -p "require('$repo/package-lock.json').packages['node_modules/@pulumi/kubernetes'].version")
    if [ "$want" != "$have" ]; then
        echo "tools/pulumi-kubernetes/VERSION is $want but package-lock.json has @pulumi/kubernetes $have: pin them together" >&2
        exit 1
    fi
}

tools=("$@")
[ ${#tools[@]} -gt 0 ] || tools=(etcd kubernetes kwok pulumi pulumi-language-nodejs pulumi-language-yaml pulumi-kubernetes)
for t in "${tools[@]}"; do
    case "$t" in
        etcd) build_tool etcd build_etcd etcd ;;
        kubernetes) build_tool kubernetes build_kubernetes kube-apiserver kube-controller-manager kube-scheduler ;;
        kwok) build_tool kwok build_kwok kwok kwok-stages.yaml ;;
        pulumi) build_tool pulumi build_pulumi pulumi ;;
        pulumi-language-nodejs) build_tool pulumi-language-nodejs build_pulumi_language_nodejs pulumi-language-nodejs ;;
        pulumi-language-yaml) build_tool pulumi-language-yaml build_pulumi_language_yaml pulumi-language-yaml ;;
        pulumi-kubernetes)
            check_kubernetes_sdk_pin
            build_tool pulumi-kubernetes build_pulumi_kubernetes pulumi-resource-kubernetes
            ;;
        *)
            echo "unknown tool '$t' (allowed: etcd kubernetes kwok pulumi pulumi-language-nodejs pulumi-language-yaml pulumi-kubernetes)" >&2
            exit 2
            ;;
    esac
done
log "tools ready in $cache/bin"
