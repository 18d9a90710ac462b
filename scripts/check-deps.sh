#!/usr/bin/env bash
# Supply chain: cargo deny's licence, ban and source checks over the whole dependency graph
# (deny.toml). cargo-deny is built from crates.io into the git-ignored cache the first time.
# Advisories need the RustSec database from GitHub, which this machine cannot reach; the
# GitHub workflow checks them.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

version=0.20.2
tools="$root/.cache/cargo-tools"
deny="$tools/bin/cargo-deny"
if [ ! -x "$deny" ] || [ "$("$deny" --version)" != "cargo-deny $version" ]; then
  echo "check-deps: building cargo-deny $version from crates.io" >&2
  cargo install --quiet --locked --root "$tools" cargo-deny --version "$version" >&2
fi
"$deny" check licenses bans sources
