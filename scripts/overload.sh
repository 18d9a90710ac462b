#!/usr/bin/env bash
# Overload figures for RELIABILITY.md, on 127.0.0.1 only, every phase bounded in time and
# count: the model server and then the proxy (in front of it) are measured at capacity,
# offered OVERLOAD_FACTOR (4) times that for OVERLOAD_SECONDS (10), then asked sequentially
# again; peak RSS of both processes at the end.
#
#   scripts/overload.sh          # writes artifacts/overload-<timestamp>.txt and prints it
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

shared="${SHARED_DIR:-$root/../shared}"
model_dir="$shared/models/mobilenetv2-int8"
image="$shared/images/house-finch.jpg"
factor="${OVERLOAD_FACTOR:-4}"
seconds="${OVERLOAD_SECONDS:-10}"
model_port=18180
proxy_port=18130
out="$root/artifacts/overload-$(date -u +%Y%m%dT%H%M%SZ).txt"
mkdir -p "$root/artifacts"

eval "$(scripts/setup.sh)"
cargo build --release --locked -p model-server -p proxy --bins --example bench
bench="$root/target/release/examples/bench"

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_ready() { # url
  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "overload: $1 never answered" >&2; return 1
}

peak_rss() { grep VmHWM "/proc/$1/status" | awk '{printf "%.0f MiB", $2 / 1024}'; }

HOST=127.0.0.1 PORT=$model_port MODEL_DIR="$model_dir" RUST_LOG=warn \
  SAGEMAKER_RUNTIME_API_ENDPOINT=bench "$root/target/release/model-server" serve >/dev/null &
pids+=($!); model_pid=$!
wait_ready "http://127.0.0.1:$model_port/ping"
HOST=127.0.0.1 PORT=$proxy_port SAGEMAKER_ENDPOINT_NAME=bench \
  SAGEMAKER_ENDPOINT_URL="http://127.0.0.1:$model_port" STATIC_DIR=/nonexistent RUST_LOG=warn \
  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1 \
  AWS_EC2_METADATA_DISABLED=true "$root/target/release/proxy" >/dev/null &
pids+=($!); proxy_pid=$!
wait_ready "http://127.0.0.1:$proxy_port/health"

{
  echo "# scripts/overload.sh on $(hostname), $(date -u +%FT%TZ)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), cores: $(nproc); load generator on the same cores"
  echo "model server: default settings (MAX_IN_FLIGHT = cores); image: $(basename "$image")"
  echo
  echo "## model server, POST /invocations"
  "$bench" overload --url "http://127.0.0.1:$model_port/invocations" --image "$image" \
    --clients "$(nproc)" --factor "$factor" --seconds "$seconds"
  echo
  echo "## proxy in front of it, POST /predict"
  "$bench" overload --url "http://127.0.0.1:$proxy_port/predict" --image "$image" \
    --clients "$(nproc)" --factor "$factor" --seconds "$seconds"
  echo
  echo "peak RSS: model server $(peak_rss "$model_pid"), proxy $(peak_rss "$proxy_pid")"
  kill -0 "$model_pid" && kill -0 "$proxy_pid" && echo "both processes still running"
} | tee "$out"
