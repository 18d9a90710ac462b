#!/usr/bin/env bash
# Installs what the project needs at run time into a git-ignored cache (and nasm, for the
# JPEG decoder's SIMD build) and prints the environment to use it. Idempotent; everything comes from the package registries.
#
#   eval "$(scripts/setup.sh)"     # exports ORT_DYLIB_PATH
#
# ONNX Runtime: the shared library is taken from the PyPI `onnxruntime` wheel (pinned below),
# never downloaded from anywhere else.
set -euo pipefail

ORT_VERSION="${ORT_VERSION:-1.32.0}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${PROJECT_CACHE_DIR:-$root/.cache}"
ort_dir="$cache/onnxruntime/$ORT_VERSION"
lib="$ort_dir/libonnxruntime.so.$ORT_VERSION"

if [ ! -f "$lib" ]; then
  python="$(command -v python3 || command -v python)" || {
    echo "setup: python3 with pip is needed to fetch the onnxruntime wheel from PyPI" >&2
    exit 2
  }
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  echo "setup: fetching onnxruntime==$ORT_VERSION from PyPI" >&2
  "$python" -m pip download --quiet --disable-pip-version-check --no-deps \
    --only-binary=:all: --dest "$tmp" "onnxruntime==$ORT_VERSION" >&2
  wheel="$(ls "$tmp"/onnxruntime-"$ORT_VERSION"-*.whl)"
  mkdir -p "$ort_dir"
  "$python" - "$wheel" "$ort_dir" "$ORT_VERSION" <<'PY'
import sys, zipfile, pathlib
wheel, dest, version = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3]
name = f"onnxruntime/capi/libonnxruntime.so.{version}"
with zipfile.ZipFile(wheel) as z:
    data = z.read(name)
tmp = dest / (pathlib.Path(name).name + ".partial")
tmp.write_bytes(data)
tmp.rename(dest / pathlib.Path(name).name)
PY
  echo "setup: installed $lib" >&2
fi

# nasm gives libjpeg-turbo (built by the mozjpeg-sys crate) its SIMD code; without it the
# build still works, with a decode a few times slower than the container's and the benchmarks'.
if ! command -v nasm >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing nasm with apt" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nasm; } >&2 \
      || echo "setup: apt-get could not install nasm: JPEG decoding builds without SIMD" >&2
  else
    echo "setup: nasm missing (and apt-get as root not available): JPEG decoding builds without SIMD" >&2
  fi
fi

echo "export ORT_DYLIB_PATH='$lib'"
