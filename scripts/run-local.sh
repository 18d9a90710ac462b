#!/usr/bin/env bash
# Runs the local stack on 127.0.0.1 with embedded defaults and no AWS account: for now the model
# server (SageMaker container contract) on http://127.0.0.1:8080. Ctrl-C stops it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

eval "$(scripts/setup.sh)"
shared="${SHARED_DIR:-$root/../shared}"
export MODEL_DIR="${MODEL_DIR:-$shared/models/mobilenetv2-int8}"
export HOST="${HOST:-127.0.0.1}" PORT="${PORT:-8080}"
cargo build --release --locked -p model-server
echo "model server: http://$HOST:$PORT  (GET /ping, POST /invocations)" >&2
exec target/release/model-server serve
