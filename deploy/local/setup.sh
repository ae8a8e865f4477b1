#!/usr/bin/env bash
# Local set-up for StreamEngine on Debian. Idempotent and fast when everything is already in place.
#
#   deploy/local/setup.sh          what the engine needs: the pinned chDB library, NuGet packages
#   deploy/local/setup.sh --test   also what the tests need: kcat, nats-server
#
# chDB (libchdb.so, the embedded ClickHouse) comes from npm as @chdb/lib-linux-x64-gnu, is checked against the
# sha256 recorded below and unpacked into a cache folder outside git:
#   ${XDG_CACHE_HOME:-~/.cache}/streamengine/chdb/<version>/libchdb.so
set -euo pipefail

CHDB_VERSION=26.7.3-stable.1
CHDB_PACKAGE=@chdb/lib-linux-x64-gnu
CHDB_SHA256=c0d32b129e988f2b9a9a31c9141aecf5e1e2453f9a079efc4d36ab8e3f92b2ad

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
want_test=0
want_restore=1
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    --no-restore) want_restore=0 ;;
    -h|--help) sed -n '2,10p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "setup.sh: unknown option '$arg' (allowed: --test, --no-restore)" >&2; exit 2 ;;
  esac
done

say() { echo "setup: $*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    say "need root to run: $*"; exit 1; fi
}

apt_updated=0
apt_install() {
  # Installs the Debian packages that are missing; a no-op (no apt call) when all are present.
  local missing=()
  for pkg in "$@"; do dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]} (apt)"
  if [ $apt_updated -eq 0 ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# --- chDB -------------------------------------------------------------------------------------------
cache=${XDG_CACHE_HOME:-$HOME/.cache}/streamengine
chdb_dir=$cache/chdb/$CHDB_VERSION
if [ ! -s "$chdb_dir/libchdb.so" ]; then
  command -v npm >/dev/null || apt_install npm
  say "fetching $CHDB_PACKAGE@$CHDB_VERSION (about 180 MB, once)"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && npm pack --silent "$CHDB_PACKAGE@$CHDB_VERSION" >/dev/null)
  tarball=$(ls "$work"/*.tgz)
  actual=$(sha256sum "$tarball" | cut -d' ' -f1)
  if [ "$actual" != "$CHDB_SHA256" ]; then
    say "checksum mismatch for $tarball: expected $CHDB_SHA256, got $actual"; exit 1
  fi
  tar -xzf "$tarball" -C "$work" package/libchdb.so
  mkdir -p "$chdb_dir"
  mv "$work/package/libchdb.so" "$chdb_dir/libchdb.so.partial"
  mv "$chdb_dir/libchdb.so.partial" "$chdb_dir/libchdb.so"
  say "chDB $CHDB_VERSION installed at $chdb_dir/libchdb.so"
fi

# --- dashboard front-end packages (npm, pinned and checked; copied next to the host's static files) -----
web_lib=$root/engine/StreamEngine.Host/wwwroot/lib
web_packages=(
  "@microsoft/signalr 10.0.11 ae9efcfc7dccfc81b2f69edd4a0f879a8f0c51c0154c469561c4a5c201310b4c package/dist/browser/signalr.min.js"
  "uplot 1.6.32 4b8a8191e425658e3ea8c8c1314b0fc679c861ee3a1af2b20c7b16ba50b5133d package/dist/uPlot.iife.min.js package/dist/uPlot.min.css"
)
for entry in "${web_packages[@]}"; do
  read -r name version sha files <<<"$entry"
  stamp="$web_lib/.${name//\//_}-$version"
  [ -f "$stamp" ] && continue
  command -v npm >/dev/null || apt_install npm
  web_cache=$cache/web
  mkdir -p "$web_cache" "$web_lib"
  tarball=$web_cache/$(echo "$name" | sed 's|^@||; s|/|-|')-$version.tgz
  if [ ! -s "$tarball" ]; then
    say "fetching $name@$version (npm)"
    (cd "$web_cache" && npm pack --silent "$name@$version" >/dev/null)
  fi
  echo "$sha  $tarball" | sha256sum -c --quiet - || { say "$tarball does not match its recorded sha256"; rm -f "$tarball"; exit 1; }
  for file in $files; do
    tar -xzf "$tarball" -O "$file" >"$web_lib/$(basename "$file")"
  done
  touch "$stamp"
done

# --- test dependencies ------------------------------------------------------------------------------
if [ $want_test -eq 1 ]; then
  # docker-compose (v1) and promtool validate deploy/ (they parse; no Docker engine or Prometheus server runs).
  apt_install kcat nats-server chromium docker-compose prometheus
  # Debian's package starts a system nats-server on port 4222; tests start their own on free ports.
  # axe-core (npm, pinned and checked) for the dashboard's accessibility check; kept in the cache, never served.
  axe_dir=$cache/web/axe-core-4.14.1
  if [ ! -s "$axe_dir/axe.min.js" ]; then
    command -v npm >/dev/null || apt_install npm
    mkdir -p "$cache/web" "$axe_dir"
    tarball=$cache/web/axe-core-4.14.1.tgz
    [ -s "$tarball" ] || { say "fetching axe-core@4.14.1 (npm)"; (cd "$cache/web" && npm pack --silent axe-core@4.14.1 >/dev/null); }
    echo "e6b0ce02b84d892e2e33e403485e7f3d6c29e2be6df65daf44d89ba564139745  $tarball" | sha256sum -c --quiet - || { say "$tarball does not match its recorded sha256"; rm -f "$tarball"; exit 1; }
    tar -xzf "$tarball" -O package/axe.min.js >"$axe_dir/axe.min.js.partial" && mv "$axe_dir/axe.min.js.partial" "$axe_dir/axe.min.js"
  fi
fi

# --- .NET packages ----------------------------------------------------------------------------------
if [ $want_restore -eq 1 ]; then
  dotnet restore "$root/StreamEngine.sln" --verbosity quiet >/dev/null || { say "dotnet restore failed"; exit 1; }
fi
