#!/usr/bin/env bash
# Runs the whole local stack on 127.0.0.1 with embedded defaults and no AWS account:
#   model-server on :8080 (SageMaker container contract plus the SageMaker Runtime API stand-in)
#   proxy on :3000 (POST /predict through the real AWS SDK, and the web page at /)
# Ctrl-C stops both. Their stdout (JSON logs and EMF records) is also appended to
# artifacts/logs/, which `slo report --logs artifacts/logs` reads.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

eval "$(scripts/setup.sh)"
shared="${SHARED_DIR:-$root/../shared}"
model_port="${MODEL_PORT:-8080}"
proxy_port="${PORT:-3000}"
endpoint="${SAGEMAKER_ENDPOINT_NAME:-mobilenet}"
cargo build --release --locked -p model-server -p proxy

logs="$root/artifacts/logs"
mkdir -p "$logs"
pids=()
stop() { trap - INT TERM EXIT; kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap stop INT TERM EXIT

HOST=127.0.0.1 PORT="$model_port" MODEL_DIR="${MODEL_DIR:-$shared/models/mobilenetv2-int8}" \
  SAGEMAKER_RUNTIME_API_ENDPOINT="$endpoint" target/release/model-server serve \
  > >(tee -a "$logs/model-server.log") &
pids+=($!)

# Dummy credentials: the SDK signs requests, the local stand-in does not check them.
HOST=127.0.0.1 PORT="$proxy_port" SAGEMAKER_ENDPOINT_NAME="$endpoint" \
  SAGEMAKER_ENDPOINT_URL="http://127.0.0.1:$model_port" \
  ALLOWED_ORIGINS="${ALLOWED_ORIGINS:-http://127.0.0.1:$proxy_port,http://localhost:$proxy_port}" \
  STATIC_DIR="$root/frontend" AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \
  AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true target/release/proxy \
  > >(tee -a "$logs/proxy.log") &
pids+=($!)

for _ in $(seq 1 300); do
  curl -sf -o /dev/null "http://127.0.0.1:$model_port/ping" && break
  sleep 0.1
done
echo "local stack ready: http://127.0.0.1:$proxy_port/ (page, when frontend/ exists), POST http://127.0.0.1:$proxy_port/predict; model server on :$model_port" >&2
wait -n "${pids[@]}"
