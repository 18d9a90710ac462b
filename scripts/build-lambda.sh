#!/usr/bin/env bash
# Builds the proxy for AWS Lambda (provided.al2023, arm64) as target/lambda/proxy/bootstrap.zip.
# cargo-lambda comes from PyPI (a prebuilt binary with zig) into the git-ignored .cache/.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

venv="$root/.cache/cargo-lambda-venv"
if [ ! -x "$venv/bin/cargo-lambda" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "cargo-lambda==${CARGO_LAMBDA_VERSION:-1.9.2}"
fi
export PATH="$venv/bin:$PATH"
cargo lambda build --release --arm64 --locked -p proxy --output-format zip
ls -l target/lambda/proxy/bootstrap.zip
