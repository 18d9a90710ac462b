#!/usr/bin/env bash
# Tests the web page (frontend/) in headless Chromium against the real local stack: the test
# starts the model server and the proxy itself on free 127.0.0.1 ports and stops them at the end.
#
#   scripts/test-browser.sh     # screenshots and service logs land in artifacts/
#
# Installs what is missing first: Debian's chromium and chromium-driver (apt), Node.js (apt, when
# there is none; 20 or newer is needed) and playwright-core from tests/browser/package-lock.json
# (npm ci). It does not build the services: it uses target/debug/{proxy,model-server} (cargo build
# -p proxy -p model-server), or PROXY_BIN / MODEL_SERVER_BIN.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

eval "$(scripts/setup.sh)"
export SHARED_DIR="${SHARED_DIR:-$root/../shared}"
export PROXY_BIN="${PROXY_BIN:-$root/target/debug/proxy}"
export MODEL_SERVER_BIN="${MODEL_SERVER_BIN:-$root/target/debug/model-server}"
export CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}"

for bin in "$PROXY_BIN" "$MODEL_SERVER_BIN"; do
  [ -x "$bin" ] || { echo "test-browser: $bin is missing; run cargo build -p proxy -p model-server first" >&2; exit 2; }
done

apt_install() {
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "test-browser: not root and no sudo; install $* yourself" >&2; exit 2; }
    sudo=(sudo)
  fi
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

missing=()
[ -x "$CHROMIUM_PATH" ] || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "test-browser: installing ${missing[*]}" >&2
  apt_install "${missing[@]}"
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  echo "test-browser: Node.js $(node --version) is too old; playwright-core needs 20 or newer" >&2
  exit 2
fi

cd tests/browser
want="$(node -p 'require("./package-lock.json").packages["node_modules/playwright-core"].version')"
have="$(node -p 'try { require("./node_modules/playwright-core/package.json").version } catch { "" }')"
if [ "$want" != "$have" ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

# The suite bounds every wait itself (about 20 s here); this is the backstop.
timeout --kill-after=10 300 node --test frontend.test.mjs
