#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs the runtime pieces (ONNX Runtime
# from PyPI; Chromium and playwright-core for the page), builds with Clippy's lints as errors,
# and runs the whole workspace's tests against the real model in ../shared (or SHARED_DIR), then the page's tests in headless
# Chromium against the real local stack, the checks of infra/ (terraform fmt, validate, apply and
# destroy against moto, checkov; run beside the build) and of the dependencies (cargo deny:
# licences, bans, sources).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

eval "$(scripts/setup.sh)"
export SHARED_DIR="${SHARED_DIR:-$root/../shared}"
if [ ! -f "$SHARED_DIR/models/mobilenetv2-int8/model.onnx" ]; then
  echo "test: the shared model is missing at $SHARED_DIR/models/mobilenetv2-int8 (set SHARED_DIR)" >&2
  exit 2
fi

# The infra checks need no build and mostly wait on Terraform and moto: they run beside the
# build and the tests, and their output comes at the end.
infra_log="$(mktemp)"
scripts/check-infra.sh >"$infra_log" 2>&1 &
infra_pid=$!
trap 'kill "$infra_pid" 2>/dev/null || true; rm -f "$infra_log"' EXIT

# Clippy rides on the test build: as the workspace wrapper, clippy-driver compiles the project's
# own crates, lints and code in one pass, instead of `cargo clippy` checking every dependency
# a second time (3.7 of CI's 19 minutes). `-D warnings`, as `cargo clippy -- -D warnings` passes
# it. LINT=0 builds with plain rustc.
if [ "${LINT:-1}" = 1 ]; then
  driver="$(command -v clippy-driver || true)"
  if [ -z "$driver" ]; then
    echo "test: clippy-driver is missing (rustup component add clippy); LINT=0 tests without lints" >&2
    exit 2
  fi
  export RUSTC_WORKSPACE_WRAPPER="$driver" CLIPPY_ARGS="-Dwarnings__CLIPPY_HACKERY__"
fi
cargo test --workspace --locked --all-targets
cargo test --workspace --locked --doc
# The browser tests start target/debug/{proxy,model-server}, which `cargo test` built: a
# `cargo build --bins` would build them again with other features (90 s).
scripts/test-browser.sh
scripts/check-deps.sh

infra_status=0
wait "$infra_pid" || infra_status=$?
cat "$infra_log"
if [ "$infra_status" -ne 0 ]; then
  echo "test: scripts/check-infra.sh failed (exit $infra_status)" >&2
  exit "$infra_status"
fi
