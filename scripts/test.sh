#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs the runtime pieces (ONNX Runtime
# from PyPI; Chromium and playwright-core for the page), builds, and runs the whole workspace's
# tests against the real model in ../shared (or SHARED_DIR), then the page's tests in headless
# Chromium against the real local stack, then the offline checks of infra/ (terraform fmt,
# checkov) and of the dependencies (cargo deny: licences, bans, sources).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

eval "$(scripts/setup.sh)"
export SHARED_DIR="${SHARED_DIR:-$root/../shared}"
if [ ! -f "$SHARED_DIR/models/mobilenetv2-int8/model.onnx" ]; then
  echo "test: the shared model is missing at $SHARED_DIR/models/mobilenetv2-int8 (set SHARED_DIR)" >&2
  exit 2
fi

cargo test --workspace --locked --all-targets
cargo test --workspace --locked --doc
# The browser tests start target/debug/{proxy,model-server}; `cargo test` built them already.
cargo build --workspace --locked --bins
scripts/test-browser.sh
scripts/check-infra.sh
scripts/check-deps.sh
