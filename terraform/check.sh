#!/usr/bin/env bash
# Offline checks of terraform/: `terraform fmt -check` and checkov. Run from anywhere:
#   bash terraform/check.sh
# checkov lives in its own venv (default <repo>/.venv-checkov, override with CHECKOV_VENV), created or updated here
# from requirements-checkov.txt: it downgrades packages the main venv needs. Skipped checks carry their reason
# inline (#checkov:skip=CKV_...:reason) next to the resource.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
venv="${CHECKOV_VENV:-$repo/.venv-checkov}"
python="${PYTHON:-python3.11}"
pin="$(grep -E '^checkov==' "$here/requirements-checkov.txt")"

if ! command -v terraform >/dev/null; then
  echo "check.sh: terraform is not on PATH (needed for terraform fmt -check)" >&2
  exit 1
fi

echo "== terraform fmt -check"
terraform fmt -recursive -check -diff "$here"

if [[ "$("$venv/bin/checkov" --version 2>/dev/null || true)" != "${pin#checkov==}" ]]; then
  echo "== installing $pin into $venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements-checkov.txt"
fi

echo "== checkov $("$venv/bin/checkov" --version)"
"$venv/bin/checkov" -d "$here" --framework terraform --skip-download --compact --quiet
