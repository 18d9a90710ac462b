#!/usr/bin/env bash
# Checks of infra/ that run without network (terraform init/validate need provider downloads
# and run in .github/workflows/ci.yml instead): terraform fmt, and checkov with the skips and
# their reasons in infra/.checkov.yaml. checkov comes from PyPI into a git-ignored virtual
# environment, so it cannot disturb the machine's other Python packages.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

CHECKOV_VERSION="${CHECKOV_VERSION:-3.3.30}"
venv="${PROJECT_CACHE_DIR:-$root/.cache}/checkov-$CHECKOV_VERSION"

if command -v terraform >/dev/null; then
  terraform fmt -check -recursive infra
else
  echo "check-infra: terraform is not installed; skipping terraform fmt -check" >&2
fi

if [ ! -x "$venv/bin/checkov" ]; then
  echo "check-infra: installing checkov==$CHECKOV_VERSION from PyPI into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION" >&2
fi
"$venv/bin/checkov" --directory infra --config-file infra/.checkov.yaml
