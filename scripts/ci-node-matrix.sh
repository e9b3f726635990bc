#!/usr/bin/env bash
# Builds and tests darkhook on other Node majors than the one running CI (default: 22 and 24), each with
# its own native modules compiled from source for that Node. Prints, per version, which suites ran and
# whether they passed; exits non-zero if any failed. Called by .ci/run after the main `npm test`.
# Usage: scripts/ci-node-matrix.sh [MAJOR...]      ($DARKHOOK_MATRIX_SUITES overrides the suite list)
#
# Layout, all under $DARKHOOK_CACHE (default ~/.cache/darkhook), per Node version V:
#   node-V/node/              the Node build with its headers (scripts/install-node.sh)
#   node-V/deps-HASH/         package.json (scripts removed) + package-lock.json + node_modules from `npm ci`
#                             run by that Node, HASH = sha256 of package-lock.json (npm ci refuses a lock out of step with package.json); kept while
#                             the hash is unchanged, so a warm run installs nothing
#   node-V/tree/              a copy of this checkout (no .git, node_modules or build) with
#                             node_modules -> ../deps-HASH/node_modules; built there by tsc under that Node, so
#                             build/ resolves that Node's modules by plain node_modules lookup (ESM ignores NODE_PATH)
#   node-V/logs/SUITE.log     the output of each suite
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
cache="${DARKHOOK_CACHE:-$HOME/.cache/darkhook}"
majors=("$@")
[ ${#majors[@]} -gt 0 ] || majors=(22 24)
suites="${DARKHOOK_MATRIX_SUITES:-core pki connector ziti fabric sender action receiver cli demo}"
key=$(sha256sum <package-lock.json | cut -c1-16)

# Files of one suite, relative to the tree. `action` is the Action's tests, split out of test/sender.
suite_files() {
  case "$1" in
    action) ls build/test/sender/action*.test.js ;;
    sender) ls build/test/sender/*.test.js | grep -v '/action' ;;
    *)      ls build/test/"$1"/*.test.js ;;
  esac
}

# npm ci for this Node, native modules built from source against its headers.
install_deps() {
  local nodedir=$1 deps=$2
  [ -f "$deps/.complete" ] && { echo "   deps: cached at $deps" >&2; return 0; }
  rm -rf "$deps"
  mkdir -p "$deps"
  cp package-lock.json "$deps/"
  # The root package's own lifecycle scripts (prepare = tsc) need the sources; the dependencies' do not.
  "$nodedir/bin/node" -e 'const p=JSON.parse(require("fs").readFileSync(process.argv[1]));delete p.scripts;require("fs").writeFileSync(process.argv[2],JSON.stringify(p,null,2))' \
    package.json "$deps/package.json"
  echo "   deps: npm ci under $("$nodedir/bin/node" --version), native modules from source" >&2
  ( cd "$deps" && PATH="$nodedir/bin:$PATH" npm_config_nodedir="$nodedir" npm_config_build_from_source=true \
      npm ci --no-audit --no-fund --loglevel=error >"$deps/npm-ci.log" 2>&1 ) \
    || { tail -n 40 "$deps/npm-ci.log" >&2; return 1; }
  # better-sqlite3 must be the freshly compiled addon, and it must load in this Node.
  [ -d "$deps/node_modules/better-sqlite3/build/Release/obj.target" ] \
    || { echo "   deps: better-sqlite3 was not compiled from source" >&2; return 1; }
  ( cd "$deps" && "$nodedir/bin/node" -e 'new (require("better-sqlite3"))(":memory:").close(); require("sodium-native")' )
  touch "$deps/.complete"
}

# A copy of the checkout beside that Node's node_modules, built by that Node.
make_tree() {
  local node=$1 deps=$2 tree=$3
  rm -rf "$tree"
  mkdir -p "$tree"
  tar -C "$repo" --exclude=./node_modules --exclude=./.git --exclude=./build -cf - . | tar -C "$tree" -xf -
  ln -s "$deps/node_modules" "$tree/node_modules"
  ( cd "$tree" && "$node" node_modules/typescript/bin/tsc -p tsconfig.json )
}

failed=0
summary=()
for major in "${majors[@]}"; do
  t0=$SECONDS
  node=$(bash scripts/install-node.sh "$major")
  nodedir=$(dirname "$(dirname "$node")")
  version=$("$node" --version)
  vdir=$(dirname "$nodedir")
  echo "== node $version ($node)"
  for old in "$vdir"/deps-*; do [ "$old" = "$vdir/deps-$key" ] || rm -rf "$old"; done
  install_deps "$nodedir" "$vdir/deps-$key"
  make_tree "$node" "$vdir/deps-$key" "$vdir/tree"
  t_setup=$((SECONDS - t0))
  rm -rf "$vdir/logs"
  mkdir -p "$vdir/logs"
  line="node $version: setup ${t_setup}s;"
  for suite in $suites; do
    log="$vdir/logs/$suite.log"
    s0=$SECONDS
    if [ "$suite" = demo ]; then
      # The demo a user runs first; a warning on its stderr fails it as an error would.
      ( cd "$vdir/tree" && PATH="$nodedir/bin:$PATH" "$node" build/cli/main.js demo ) >"$log" 2>"$log.err" && ! grep -q 'Warning' "$log.err"
    else
      # shellcheck disable=SC2046
      ( cd "$vdir/tree" && PATH="$nodedir/bin:$PATH" "$node" --test --test-concurrency=1 --test-reporter=spec $(suite_files "$suite") ) >"$log" 2>&1
    fi && ok=1 || ok=0
    [ "$suite" = demo ] && { cat "$log.err" >>"$log"; rm -f "$log.err"; }
    tests=$(sed -n 's/^ℹ tests \([0-9]*\)$/\1/p' "$log" | tail -n1)
    what="$suite${tests:+ ($tests tests)} $((SECONDS - s0))s"
    if [ $ok = 1 ]; then
      line="$line $what pass;"
    else
      line="$line $what FAIL;"
      failed=1
      echo "-- $suite failed on node $version; last lines of $log:" >&2
      tail -n 30 "$log" >&2
    fi
  done
  line="$line total $((SECONDS - t0))s"
  echo "$line"
  summary+=("$line")
done
echo "== node matrix"
printf '%s\n' "${summary[@]}"
exit $failed
