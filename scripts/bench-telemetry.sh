#!/usr/bin/env bash
# Cost of telemetry on the request path (BENCHMARKS.md, "Telemetry overhead"): p50 latency of
# the model server (POST /invocations) and of the whole stack (proxy POST /predict -> model
# server) at one connection, with TELEMETRY=on (EMF record, spans, correlated logs) and
# TELEMETRY=off, in alternating rounds on 127.0.0.1 so drift hits both alike. stdout of the
# services goes to a file, as it would to the log shipper.
#
#   scripts/bench-telemetry.sh                     # writes artifacts/bench-telemetry-<timestamp>.txt
#   BENCH_COMPARE=xray scripts/bench-telemetry.sh  # X-Ray export on vs off (telemetry on in both)
#
# With BENCH_COMPARE=xray the two settings are "xray-on": the model server uploads its segments
# with PutTraceSegments to moto's X-Ray (TRACES_EXPORT=xray-api) and the proxy sends its own
# over UDP to a local sink (AWS_XRAY_DAEMON_ADDRESS), as in AWS; and "xray-off": the same spans,
# not exported (TRACES_EXPORT=none).
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
compare="${BENCH_COMPARE:-telemetry}"
model_port=18081
proxy_port=18031
moto_port=18091
daemon_port=18092
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
case "$compare" in
  telemetry) settings="on off"; suffix="" ;;
  xray) settings="xray-on xray-off"; suffix="-xray" ;;
  *) echo "bench: BENCH_COMPARE must be telemetry or xray" >&2; exit 2 ;;
esac
out="$root/artifacts/bench-telemetry$suffix-$stamp.txt"
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

if [ "$compare" = xray ]; then
  # The X-Ray API (moto) and the daemon's UDP port (a sink that reads and discards).
  moto_server -H 127.0.0.1 -p "$moto_port" >"$logs/moto.log" 2>&1 &
  pids+=($!)
  python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", int(sys.argv[1])))
while True: s.recv(65536)' "$daemon_port" &
  pids+=($!)
  for _ in $(seq 1 300); do curl -s -o /dev/null "http://127.0.0.1:$moto_port" && break; sleep 0.1; done
fi

start_stack() { # setting (on|off|xray-on|xray-off), round
  local telemetry=on model_export=() proxy_export=()
  case "$1" in
    on) ;;
    off) telemetry=off ;;
    xray-on)
      model_export=(TRACES_EXPORT=xray-api AWS_ENDPOINT_URL_XRAY="http://127.0.0.1:$moto_port")
      proxy_export=(AWS_XRAY_DAEMON_ADDRESS="127.0.0.1:$daemon_port") ;;
    xray-off) model_export=(TRACES_EXPORT=none); proxy_export=(TRACES_EXPORT=none) ;;
  esac
  # One core per inference (no spinning all-cores session): it would compete with wrk and
  # the proxy on two cores and drown the effect being measured.
  env HOST=127.0.0.1 PORT=$model_port MODEL_DIR="$model_dir" TELEMETRY="$telemetry" ORT_SOLO_THREADS=0 \
    SAGEMAKER_RUNTIME_API_ENDPOINT=bench AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \
    AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true "${model_export[@]}" \
    target/release/model-server serve >"$logs/model-$1-$2.log" &
  pids+=($!); model_pid=$!
  env HOST=127.0.0.1 PORT=$proxy_port SAGEMAKER_ENDPOINT_NAME=bench TELEMETRY="$telemetry" \
    SAGEMAKER_ENDPOINT_URL="http://127.0.0.1:$model_port" STATIC_DIR=/nonexistent \
    AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1 \
    AWS_EC2_METADATA_DISABLED=true "${proxy_export[@]}" target/release/proxy >"$logs/proxy-$1-$2.log" &
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
    for setting in $settings; do
      start_stack "$setting" "$round"
      d="$(p50 "http://127.0.0.1:$model_port/invocations")"
      p="$(p50 "http://127.0.0.1:$proxy_port/predict")"
      stop_stack
      direct[$setting]+="$d "
      proxied[$setting]+="$p "
      echo "round $round $setting: model-server p50 ${d} ms, proxy->model p50 ${p} ms"
    done
  done
  for setting in $settings; do
    echo "median of round p50s, $setting: model-server $(tr ' ' '\n' <<<"${direct[$setting]}" | grep . | median) ms, proxy->model $(tr ' ' '\n' <<<"${proxied[$setting]}" | grep . | median) ms"
  done
  if [ "$compare" = xray ]; then
    # Evidence the export ran: traces moto's X-Ray holds, drop records (none expected).
    traces="$(python3 -c 'import sys, time, boto3
xray = boto3.client("xray", endpoint_url=sys.argv[1], region_name="us-east-1",
                    aws_access_key_id="local", aws_secret_access_key="local")
now = time.time()
print(len(xray.get_trace_summaries(StartTime=now - 86400, EndTime=now + 60)["TraceSummaries"]))' \
      "http://127.0.0.1:$moto_port" || echo "unknown")"
    echo "traces in moto's X-Ray after the run: $traces; TraceSegmentsDropped records: $(cat "$logs"/*-xray-on-*.log | grep -c '"TraceSegmentsDropped"' || true)"
  else
    echo "EMF records written with TELEMETRY=on: model-server $(cat "$logs"/model-on-*.log | grep -c '"_aws"'), proxy $(cat "$logs"/proxy-on-*.log | grep -c '"_aws"'); with off: $(cat "$logs"/*-off-*.log | grep -c '"_aws"' || true)"
  fi
} 2>&1 | tee "$out"
rm -f "$lua"
echo "bench: written to $out" >&2
