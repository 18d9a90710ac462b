#!/usr/bin/env bash
# Cost of telemetry on the request path (BENCHMARKS.md, "Telemetry overhead"): p50 latency of
# the model server (POST /invocations) and of the whole stack (proxy POST /predict -> model
# server) at one connection, with TELEMETRY=on (EMF record, spans, correlated logs) and
# TELEMETRY=off, in alternating rounds on 127.0.0.1 so drift hits both alike. stdout of the
# services goes to a file, as it would to the log shipper.
#
#   scripts/bench-telemetry.sh   # writes artifacts/bench-telemetry-<timestamp>.txt
#
# BENCH_SECONDS (default 10) per round, BENCH_ROUNDS (default 4) rounds per setting.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

shared="${SHARED_DIR:-$root/../shared}"
model_dir="$shared/models/mobilenetv2-int8"
image="$shared/images/house-finch.jpg"
duration="${BENCH_SECONDS:-10}"
rounds="${BENCH_ROUNDS:-4}"
model_port=18081
proxy_port=18031
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
out="$root/artifacts/bench-telemetry-$stamp.txt"
logs="$root/artifacts/bench-telemetry-$stamp-logs"
mkdir -p "$logs"

eval "$(scripts/setup.sh)"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --locked -p model-server -p proxy --bins

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

lua="$(mktemp --suffix=.lua)"
cat > "$lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "image/jpeg"
local f = assert(io.open("$image", "rb")); wrk.body = f:read("*all"); f:close()
LUA

p50() { # url -> p50 in ms
  wrk -t1 -c1 -d"${duration}s" --latency -s "$lua" "$1" | awk '
    /^ +50%/ { v=$2; if (v ~ /us$/) { sub(/us$/,"",v); v/=1000 } else if (v ~ /ms$/) { sub(/ms$/,"",v) } else if (v ~ /s$/) { sub(/s$/,"",v); v*=1000 }; print v }
    /Non-2xx/ { print "bench: non-2xx answers" > "/dev/stderr"; exit 1 }'
}

start_stack() { # telemetry on|off, round
  # One core per inference (no spinning all-cores session): it would compete with wrk and
  # the proxy on two cores and drown the effect being measured.
  HOST=127.0.0.1 PORT=$model_port MODEL_DIR="$model_dir" TELEMETRY="$1" ORT_SOLO_THREADS=0 \
    SAGEMAKER_RUNTIME_API_ENDPOINT=bench target/release/model-server serve \
    >"$logs/model-$1-$2.log" &
  pids+=($!); model_pid=$!
  HOST=127.0.0.1 PORT=$proxy_port SAGEMAKER_ENDPOINT_NAME=bench TELEMETRY="$1" \
    SAGEMAKER_ENDPOINT_URL="http://127.0.0.1:$model_port" STATIC_DIR=/nonexistent \
    AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1 \
    AWS_EC2_METADATA_DISABLED=true target/release/proxy >"$logs/proxy-$1-$2.log" &
  pids+=($!); proxy_pid=$!
  for _ in $(seq 1 300); do
    curl -sf -o /dev/null -H 'content-type: image/jpeg' --data-binary "@$image" \
      "http://127.0.0.1:$proxy_port/predict" && return 0
    sleep 0.1
  done
  echo "bench: the stack never answered" >&2; return 1
}

stop_stack() {
  kill "$proxy_pid" "$model_pid"; wait "$proxy_pid" "$model_pid" 2>/dev/null || true
}

median() { sort -n | awk '{a[NR]=$1} END { if (NR%2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2 }'; }

declare -A direct proxied
{
  echo "# scripts/bench-telemetry.sh on $(hostname), $(date -u +%FT%TZ)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), cores: $(nproc); $rounds rounds x ${duration}s per setting, c=1"
  for round in $(seq 1 "$rounds"); do
    for setting in on off; do
      start_stack "$setting" "$round"
      d="$(p50 "http://127.0.0.1:$model_port/invocations")"
      p="$(p50 "http://127.0.0.1:$proxy_port/predict")"
      stop_stack
      direct[$setting]+="$d "
      proxied[$setting]+="$p "
      echo "round $round TELEMETRY=$setting: model-server p50 ${d} ms, proxy->model p50 ${p} ms"
    done
  done
  for setting in on off; do
    echo "median of round p50s, TELEMETRY=$setting: model-server $(tr ' ' '\n' <<<"${direct[$setting]}" | grep . | median) ms, proxy->model $(tr ' ' '\n' <<<"${proxied[$setting]}" | grep . | median) ms"
  done
  echo "EMF records written with TELEMETRY=on: model-server $(cat "$logs"/model-on-*.log | grep -c '"_aws"'), proxy $(cat "$logs"/proxy-on-*.log | grep -c '"_aws"'); with off: $(cat "$logs"/*-off-*.log | grep -c '"_aws"' || true)"
} 2>&1 | tee "$out"
rm -f "$lua"
echo "bench: written to $out" >&2
