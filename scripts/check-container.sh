#!/usr/bin/env bash
# Builds the final stage of model-server/Dockerfile with podman and runs it as SageMaker does
# (`IMAGE serve`, port 8080, the deploy workflow's model.tar.gz unpacked read-only at
# /opt/ml/model, the image's non-root user), then checks /ping, the finch on /invocations, a bad
# request's JSON error, the uid and a graceful stop on SIGTERM.
#
#   scripts/check-container.sh       # SHARED_DIR (default ../shared); MODEL_SERVER_BIN to skip cargo
#
# No image can be pulled here, so the base is a Debian bookworm made with debootstrap from
# Debian's packages (cached as a local image), and the build and onnxruntime stages are replaced
# by the host's release binary and the ORT library scripts/setup.sh caches (same Debian
# bookworm, same glibc). Skips (exit 0, "SKIPPED") where podman or debootstrap cannot be had.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

shared="${SHARED_DIR:-$root/../shared}"
model_src="$shared/models/mobilenetv2-int8"
finch="$shared/images/house-finch.jpg"
# Every name starts with ml-inference-check so that what this script leaves is easy to find.
base_image="localhost/ml-inference-check-debian:bookworm-slim"
image="localhost/ml-inference-check-model-server:$$"
name="ml-inference-check-$$"

ms() { local t="${EPOCHREALTIME//[.,]/}"; echo $((t / 1000)); }
start_all="$(ms)"
step_start="$start_all"
say() { echo "check-container: $*" >&2; }
# Prints what the step did and how long it took since the previous one.
done_step() {
  local now; now="$(ms)"
  say "$* ($(((now - step_start) / 1000)).$(((now - step_start) % 1000 / 100)) s)"
  step_start="$now"
}
skip() { say "SKIPPED: $*"; exit 0; }
fail() { say "FAILED: $*"; exit 1; }

for f in "$model_src/model.onnx" "$model_src/labels.txt" "$finch"; do
  [ -f "$f" ] || { say "missing $f (set SHARED_DIR)"; exit 2; }
done

# --- Tools: podman (with runc) for the image, debootstrap for its base.
missing=()
for tool in podman debootstrap runc curl; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing ${missing[*]} with apt"
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q podman debootstrap runc curl; } >/dev/null \
      || skip "apt-get could not install podman debootstrap runc curl"
  else
    skip "${missing[*]} missing, and apt-get as root is not available to install them"
  fi
fi
command -v python3 >/dev/null || skip "python3 is needed to read the JSON answers"
# runc, cgroupfs and explicit ulimits: crun and the default ulimits are refused by the sandboxes
# of the development machines (see ../shared/containers.md); they work elsewhere too.
P=(podman --runtime runc --cgroup-manager=cgroupfs)
U=(--ulimit nofile=1024:1024 --ulimit nproc=4096:4096)
"${P[@]}" info >/dev/null 2>&1 || skip "podman cannot run here: $("${P[@]}" info 2>&1 | tail -1)"
done_step "tools: $(podman --version), $(runc --version | head -1)"

tmp="$(mktemp -d)"
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "$rc" != 0 ] && "${P[@]}" container exists "$name" 2>/dev/null; then
    say "container logs (last 30 lines, without the refused pings):"
    "${P[@]}" logs "$name" 2>&1 | grep -v '"request refused"' | tail -30 >&2 || true
  fi
  "${P[@]}" rm -f -t 0 "$name" >/dev/null 2>&1 || true
  "${P[@]}" rmi "$image" >/dev/null 2>&1 || true
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- Base image: debian bookworm from Debian's packages, made once and kept.
if "${P[@]}" image exists "$base_image"; then
  done_step "base image $base_image: cached"
else
  [ "$(id -u)" = 0 ] || skip "debootstrap needs root to make $base_image"
  # The mirror apt uses on this machine, never a host name written here.
  mirror="${DEBIAN_MIRROR:-}"
  if [ -z "$mirror" ] && [ -f /etc/apt/sources.list.d/debian.sources ]; then
    mirror="$(awk '$1 == "URIs:" && $2 !~ /security/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources)"
  fi
  if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
    mirror="$(awk '$1 == "deb" && !/security/ { for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; exit } }' /etc/apt/sources.list)"
  fi
  [ -n "$mirror" ] || skip "no Debian mirror found in apt's sources (set DEBIAN_MIRROR)"
  # minbase: Essential and Priority: required packages plus apt, as debian:bookworm-slim.
  debootstrap --variant=minbase bookworm "$tmp/rootfs" "$mirror" > "$tmp/debootstrap.log" 2>&1 \
    || { tail -20 "$tmp/debootstrap.log" >&2; fail "debootstrap from $mirror"; }
  rm -rf "$tmp/rootfs/var/cache/apt/archives/"*.deb "$tmp/rootfs/var/lib/apt/lists/"*
  # The image config debian:bookworm-slim has (podman import gives none).
  tar -C "$tmp/rootfs" -c . | "${P[@]}" import -q \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' - "$base_image" >/dev/null
  rm -rf "$tmp/rootfs"
  done_step "base image $base_image: made with debootstrap from $mirror and imported"
fi

# --- The two files the final stage takes from the build and onnxruntime stages.
eval "$(scripts/setup.sh)"
if [ -n "${MODEL_SERVER_BIN:-}" ]; then
  bin="$MODEL_SERVER_BIN"
else
  cargo build --release --locked -p model-server
  bin="$root/target/release/model-server"
fi
mkdir -p "$tmp/artifacts/out"
cp "$bin" "$tmp/artifacts/out/model-server"
cp "$ORT_DYLIB_PATH" "$tmp/artifacts/out/libonnxruntime.so"
done_step "artifacts: $bin, $ORT_DYLIB_PATH"

# --- The Dockerfile as it is, final stage only. No network: the final stage fetches nothing.
# --layers=false: no intermediate images to clean up.
"${P[@]}" build "${U[@]}" --network none --layers=false -q \
  --build-arg BASE_IMAGE="$base_image" \
  --build-context build="$tmp/artifacts" --build-context onnxruntime="$tmp/artifacts" \
  -f model-server/Dockerfile -t "$image" . >/dev/null
user="$("${P[@]}" image inspect --format '{{.Config.User}}' "$image")"
[ "$user" = 10001 ] || fail "image user is '$user', not 10001"
done_step "image $image built ($("${P[@]}" image inspect --format '{{.Size}}' "$image") bytes, USER $user)"

# --- The model artifact exactly as .github/workflows/deploy.yml makes it; SageMaker unpacks it
# into /opt/ml/model. World-readable: the server runs as uid 10001, not as the files' owner.
tar -czf "$tmp/model.tar.gz" -C "$model_src" model.onnx labels.txt
mkdir "$tmp/model"
tar -xzf "$tmp/model.tar.gz" -C "$tmp/model"
chmod -R a+rX "$tmp/model"
done_step "model.tar.gz ($(stat -c %s "$tmp/model.tar.gz") bytes) unpacked for /opt/ml/model (read-only)"

# --- Run as SageMaker does: `IMAGE serve`, the image's user, 8080 (here on a free 127.0.0.1
# port). No --rm: the cleanup trap removes it, and its logs and exit code stay readable until then.
"${P[@]}" run -d "${U[@]}" --name "$name" -p 127.0.0.1::8080 \
  -v "$tmp/model:/opt/ml/model:ro" "$image" serve >/dev/null
url="http://$("${P[@]}" port "$name" 8080/tcp | head -1)"
# Bounded by time (60 s), not by tries; model_unavailable is final (the model failed to load).
ready=""
deadline=$(($(ms) + 60000))
while [ "$(ms)" -lt "$deadline" ]; do
  status="$(curl -s -o "$tmp/ping.json" -w '%{http_code}' "$url/ping" || true)"
  if [ "$status" = 200 ]; then ready=1; break; fi
  grep -q model_unavailable "$tmp/ping.json" 2>/dev/null && fail "/ping: HTTP $status $(cat "$tmp/ping.json")"
  [ "$("${P[@]}" inspect --format '{{.State.Running}}' "$name" 2>/dev/null)" = true ] \
    || fail "the container exited before /ping answered 200"
  sleep 0.2
done
[ -n "$ready" ] || fail "/ping did not answer 200 within 60 s (last: HTTP $status $(cat "$tmp/ping.json" 2>/dev/null))"
# The version is the hash of the mounted model.onnx: the server loaded the artifact's model.
want_version="sha256:$(sha256sum "$model_src/model.onnx" | cut -c1-12)"
python3 - "$tmp/ping.json" "$want_version" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))
assert a["status"] == "ok" and a["model"]["version"] == sys.argv[2], a
PY
done_step "GET /ping: 200 $(cat "$tmp/ping.json") at $url"

uid="$("${P[@]}" exec "$name" id -u)"
[ "$uid" = 10001 ] || fail "the server runs as uid $uid, not 10001"
done_step "uid in the container: $uid (non-root)"

status="$(curl -s -o "$tmp/answer.json" -w '%{http_code}' -H 'content-type: image/jpeg' \
  --data-binary @"$finch" "$url/invocations")"
[ "$status" = 200 ] || fail "POST /invocations with the finch: HTTP $status $(cat "$tmp/answer.json")"
top="$(python3 - "$tmp/answer.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))
p = a["predictions"][0]
assert p["label"] == "house finch", a
print(f'{p["label"]} {p["probability"]:.4f}, {len(a["predictions"])} predictions, '
      f'total {a["timings"]["total_ms"]} ms, cold_start {a["cold_start"]}')
PY
)"
done_step "POST /invocations house-finch.jpg: 200, top-1 $top"

# A bad request gets the documented JSON error: not an image -> 415 unsupported_media_type.
status="$(curl -s -o "$tmp/error.json" -w '%{http_code}' -H 'content-type: image/jpeg' \
  --data-binary 'not an image' "$url/invocations")"
code="$(python3 -c 'import json, sys; e = json.load(open(sys.argv[1]))["error"]; assert e["message"]; print(e["code"])' "$tmp/error.json")"
[ "$status" = 415 ] && [ "$code" = unsupported_media_type ] \
  || fail "a text body: HTTP $status $(cat "$tmp/error.json")"
done_step "POST /invocations with a text body: $status $code"

# SageMaker stops containers with SIGTERM; as PID 1 the server must handle it and exit 0.
"${P[@]}" stop -t 10 "$name" >/dev/null
exit_code="$("${P[@]}" inspect --format '{{.State.ExitCode}}' "$name")"
[ "$exit_code" = 0 ] || fail "exit code $exit_code after SIGTERM"
done_step "SIGTERM: stopped gracefully, exit code 0"

step_start="$start_all"
done_step "OK: the container serves the finch as SageMaker runs it"
