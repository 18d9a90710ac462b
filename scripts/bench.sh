#!/usr/bin/env bash
# Reproduces the tables in BENCHMARKS.md in one run, on 127.0.0.1 only, every load bounded
# in time: model-server vs the Python peer (../shared/peers/python-sagemaker-byoc), raw ONNX
# Runtime, decode/preprocess (time and instruction counts), serving overhead, cold start, and
# the proxy's added latency, RSS and start time.
#
#   scripts/bench.sh            # writes artifacts/bench-<timestamp>.txt and prints it
#   BENCH_ROUNDS=3 scripts/bench.sh   # rounds of model-server / peer wrk runs, alternating
#
# Needs wrk and valgrind (Debian packages; installed here when missing) and a virtualenv for
# the peer (created under .cache/ from the peer's requirements.txt). On a shared machine, the
# instruction counts (callgrind) are the decode figures that repeat; times vary with the load.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

shared="${SHARED_DIR:-$root/../shared}"
model_dir="$shared/models/mobilenetv2-int8"
image="$shared/images/house-finch.jpg"
peer_dir="$shared/peers/python-sagemaker-byoc"
duration="${BENCH_SECONDS:-15}"
rounds="${BENCH_ROUNDS:-2}"
ours_port=18080
peer_port=18090
out="$root/artifacts/bench-$(date -u +%Y%m%dT%H%M%SZ).txt"
mkdir -p "$root/artifacts"

eval "$(scripts/setup.sh)"
# wrk drives the load; nasm gives libjpeg-turbo its SIMD code, as in the container build;
# valgrind counts instructions.
for tool in wrk nasm valgrind; do
  command -v "$tool" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$tool" >/dev/null; }
done
venv="$root/.cache/peer-venv"
if [ ! -x "$venv/bin/gunicorn" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$peer_dir/requirements.txt"
fi
cargo build --release --locked -p model-server -p proxy --bins --example bench
bench="$root/target/release/examples/bench"
server="$root/target/release/model-server"
proxy_bin="$root/target/release/proxy"
proxy_port=18030

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_ready() { # url
  for _ in $(seq 1 600); do
    if curl -sf -o /dev/null -X POST --data-binary "@$image" -H 'content-type: application/octet-stream' "$1/invocations"; then return 0; fi
    sleep 0.1
  done
  echo "bench: $1 never answered" >&2; return 1
}

lua="$(mktemp --suffix=.lua)"
cat > "$lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/octet-stream"
local f = assert(io.open("$image", "rb")); wrk.body = f:read("*all"); f:close()
LUA

run_wrk() { # label url connections
  echo "--- wrk: $1 (connections=$3, ${duration}s)"
  wrk -t1 -c"$3" -d"${duration}s" --latency -s "$lua" "$2/invocations" \
    | grep -E 'Requests/sec|Non-2xx|^ +(50|90|99)%|Socket errors'
}

start_ours() { # max_in_flight [ort_sessions]
  HOST=127.0.0.1 PORT=$ours_port MODEL_DIR="$model_dir" MAX_IN_FLIGHT="$1" \
    ORT_SESSIONS="${2:-$1}" RUST_LOG=warn \
    "$server" serve >/dev/null &
  pids+=($!); ours_pid=$!
  wait_ready "http://127.0.0.1:$ours_port"
}

stop_ours() { kill "$ours_pid"; wait "$ours_pid" 2>/dev/null || true; }

# Instructions of one decode + preprocess of `input` (see `bench preprocess --only`): callgrind's
# totals for 25 and for 5 iterations, so the set-up (and making the input) cancels out.
instructions() { # input
  local counts=()
  for n in 5 25; do
    counts+=("$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bench" preprocess \
      --image "$image" --iterations "$n" --only "$1" 2>&1 >/dev/null | awk '/Collected/ {print $4}')")
  done
  echo "$1: $(( (counts[1] - counts[0]) / 20 )) instructions per decode + preprocess"
}

{
  echo "# scripts/bench.sh on $(hostname), $(date -u +%FT%TZ)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), cores: $(nproc)"
  echo "onnxruntime: $(basename "$ORT_DYLIB_PATH"); wrk: $(wrk -v 2>&1 | head -1)"
  echo "load before the run: $(uptime)"
  echo
  echo "## raw ONNX Runtime, batch 1, one session and one intra-op thread per worker"
  "$bench" ort --model-dir "$model_dir" --image "$image" --workers 2 --seconds "$duration"
  "$bench" ort --model-dir "$model_dir" --image "$image" --workers 1 --seconds 5
  echo
  echo "## decode + preprocess, in process, one thread (the upload: the photo made 1024x768, q85)"
  "$bench" preprocess --image "$image" --iterations 200
  echo
  echo "## decode + preprocess, instructions (valgrind --tool=callgrind)"
  instructions photo
  instructions upload
  echo
  echo "## model-server (Rust, default settings: MAX_IN_FLIGHT = cores = $(nproc)) and the Python"
  echo "## peer (gunicorn -w $(nproc), Flask, onnxruntime ORT_THREADS=1, Pillow), both running,"
  echo "## measured in $rounds alternating rounds"
  start_ours "$(nproc)"
  MODEL_DIR="$model_dir" ORT_THREADS=1 "$venv/bin/gunicorn" -w "$(nproc)" -b "127.0.0.1:$peer_port" \
    --chdir "$peer_dir" --log-level warning predictor:app &
  pids+=($!); peer_pid=$!
  wait_ready "http://127.0.0.1:$peer_port"
  for round in $(seq 1 "$rounds"); do
    echo "load before round $round: $(uptime)"
    run_wrk "model-server c=1 (round $round)" "http://127.0.0.1:$ours_port" 1
    run_wrk "peer c=1 (round $round)" "http://127.0.0.1:$peer_port" 1
    run_wrk "model-server c=$(nproc) (round $round)" "http://127.0.0.1:$ours_port" "$(nproc)"
    run_wrk "peer c=$(nproc) (round $round)" "http://127.0.0.1:$peer_port" "$(nproc)"
  done
  run_wrk "peer c=4" "http://127.0.0.1:$peer_port" 4
  kill "$peer_pid"; wait "$peer_pid" 2>/dev/null || true
  "$bench" overhead --url "http://127.0.0.1:$ours_port/invocations" --image "$image" --requests 1000
  stop_ours
  echo
  echo "## model-server, MAX_IN_FLIGHT=4, ORT_SESSIONS=2 (admitted requests queue for a session)"
  start_ours 4 2
  run_wrk "model-server c=4" "http://127.0.0.1:$ours_port" 4
  stop_ours
  echo
  proxy_env=(HOST=127.0.0.1 PORT=$proxy_port SAGEMAKER_ENDPOINT_NAME=bench
    SAGEMAKER_ENDPOINT_URL="http://127.0.0.1:$ours_port" STATIC_DIR=/nonexistent RUST_LOG=warn
    AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1
    AWS_EC2_METADATA_DISABLED=true)
  # Default model server (spinning solo session) and ORT_SOLO_THREADS=0 (one core per
  # inference): on two shared cores the spinning threads compete with the proxy itself.
  for solo in default 0; do
    echo "## proxy: added latency (direct vs through POST /predict), model server ORT_SOLO_THREADS=$solo"
    solo_env=(); [ "$solo" = default ] || solo_env=(ORT_SOLO_THREADS="$solo")
    env HOST=127.0.0.1 PORT=$ours_port MODEL_DIR="$model_dir" RUST_LOG=warn "${solo_env[@]}" \
      SAGEMAKER_RUNTIME_API_ENDPOINT=bench "$server" serve >/dev/null &
    pids+=($!); ours_pid=$!
    wait_ready "http://127.0.0.1:$ours_port"
    env "${proxy_env[@]}" "$proxy_bin" >/dev/null &
    pids+=($!); proxy_pid=$!
    for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$proxy_port/health" && break; sleep 0.05; done
    for round in 1 2; do
      run_wrk "direct /invocations c=1 (round $round)" "http://127.0.0.1:$ours_port" 1
      echo "--- wrk: proxy /predict c=1 (round $round) (connections=1, ${duration}s)"
      wrk -t1 -c1 -d"${duration}s" --latency -s "$lua" "http://127.0.0.1:$proxy_port/predict" \
        | grep -E 'Requests/sec|Non-2xx|^ +(50|90|99)%|Socket errors'
    done
    if [ "$solo" = default ]; then
      echo "--- wrk: proxy /predict c=2 (connections=2, ${duration}s)"
      wrk -t1 -c2 -d"${duration}s" --latency -s "$lua" "http://127.0.0.1:$proxy_port/predict" \
        | grep -E 'Requests/sec|Non-2xx|^ +(50|90|99)%|Socket errors'
      echo "proxy peak RSS after load: $(grep VmHWM /proc/$proxy_pid/status | awk '{print $2, $3}')"
      kill "$proxy_pid"; wait "$proxy_pid" 2>/dev/null || true
      echo "proxy start -> first correct prediction through it (model server already warm):"
      env "${proxy_env[@]}" "$bench" coldstart --url "http://127.0.0.1:$proxy_port/predict" \
        --image "$image" --expect-index 12 --runs 7 -- "$proxy_bin"
    else
      kill "$proxy_pid"; wait "$proxy_pid" 2>/dev/null || true
    fi
    stop_ours
    echo
  done
  echo "## cold start: process spawn -> first correct prediction (house finch), 7 runs each"
  echo "model-server (default: no ORT_CACHE_DIR, as in SageMaker):"
  HOST=127.0.0.1 PORT=$ours_port MODEL_DIR="$model_dir" RUST_LOG=warn \
    "$bench" coldstart --url "http://127.0.0.1:$ours_port/invocations" --image "$image" \
    --expect-index 12 --runs 7 -- "$server" serve
  # A fresh cache, filled by one start before the timed ones.
  ort_cache="$(mktemp -d)"
  echo "model-server with ORT_CACHE_DIR (optimised model cached by an earlier start):"
  HOST=127.0.0.1 PORT=$ours_port MODEL_DIR="$model_dir" RUST_LOG=warn ORT_CACHE_DIR="$ort_cache" \
    "$bench" coldstart --url "http://127.0.0.1:$ours_port/invocations" --image "$image" \
    --expect-index 12 --runs 1 -- "$server" serve >/dev/null
  HOST=127.0.0.1 PORT=$ours_port MODEL_DIR="$model_dir" RUST_LOG=warn ORT_CACHE_DIR="$ort_cache" \
    "$bench" coldstart --url "http://127.0.0.1:$ours_port/invocations" --image "$image" \
    --expect-index 12 --runs 7 -- "$server" serve
  rm -rf "$ort_cache"
  echo "peer:"
  MODEL_DIR="$model_dir" ORT_THREADS=1 \
    "$bench" coldstart --url "http://127.0.0.1:$peer_port/invocations" --image "$image" \
    --expect-index 12 --runs 7 -- "$venv/bin/gunicorn" -w "$(nproc)" -b "127.0.0.1:$peer_port" \
    --chdir "$peer_dir" --log-level warning predictor:app
} 2>&1 | tee "$out"
rm -f "$lua"
echo "bench: written to $out" >&2
