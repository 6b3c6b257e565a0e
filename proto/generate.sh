#!/usr/bin/env bash
# Lints the .proto sources and regenerates the ts-proto output in proto/gen
# (or in "$1"/gen when an output base directory is given, as the freshness test does).
set -euo pipefail
cd "$(dirname "$0")"
root="$(cd .. && pwd)"

buf="$root/node_modules/.bin/buf"
# npm may skip @bufbuild/buf's install script; then call the platform binary directly.
if ! "$buf" --version >/dev/null 2>&1; then
  buf="$(ls "$root"/node_modules/@bufbuild/buf-*/bin/buf 2>/dev/null | head -n 1 || true)"
fi
if [[ -z "$buf" ]]; then
  echo "buf not found: run npm install" >&2
  exit 1
fi

out="${1:-.}"
"$buf" lint
"$buf" generate --template buf.gen.yaml -o "$out"
