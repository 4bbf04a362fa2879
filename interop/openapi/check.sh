#!/usr/bin/env bash
# Checks that openapi.yaml works with code generators and linters, each at a
# pinned version with its default options:
#   - openapi-typescript types, and a tsc --strict program using them (ts/);
#   - Redocly CLI and Spectral lint with no errors;
#   - oapi-codegen's Go client compiles and drives a scenario (go/scenario)
#     against a dialtone server started on free loopback ports.
# Needs Go, Node.js and npm, and the module proxy and npm registry.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
spec="$root/openapi.yaml"

step() { printf -- '--> %s\n' "$*"; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

step "npm ci (openapi-typescript, typescript, @redocly/cli, @stoplight/spectral-cli)"
(cd ts && npm ci --no-audit --no-fund --loglevel=error)

bin=$PWD/ts/node_modules/.bin

step "openapi-typescript $("$bin/openapi-typescript" --version | tail -1) + $("$bin/tsc" --version) --strict"
(cd ts && "$bin/openapi-typescript" "$spec" -o generated/dialtone.d.ts && "$bin/tsc" --strict -p .)

step "redocly lint ($("$bin/redocly" --version 2>/dev/null | tail -1))"
"$bin/redocly" lint --config redocly.yaml "$spec"

step "spectral lint ($("$bin/spectral" --version | tail -1))"
"$bin/spectral" lint --fail-severity error --ruleset "$root/.spectral.yaml" "$spec"

step "oapi-codegen $(cd go && go list -m -f '{{.Version}}' github.com/oapi-codegen/oapi-codegen/v2): generate, vet, build"
cp -r go "$tmp/mod"
mkdir -p "$tmp/mod/goclient"
(cd "$tmp/mod" && go tool oapi-codegen -package goclient -o goclient/dialtone.gen.go "$spec")
(cd "$tmp/mod" && go vet ./... && go build -o "$tmp/scenario" ./scenario)
(cd "$root" && go build -o "$tmp/dialtone" ./cmd/dialtone)

step "Go client scenario against a live server"
"$tmp/scenario" -dialtone "$tmp/dialtone"
