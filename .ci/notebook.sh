#!/usr/bin/env bash
# Executes notebooks/capacity-report.ipynb headless against a small sweep;
# fails if any cell raises. Installs the notebook's Python packages into a
# virtual environment once (idempotent). Needs target/debug/headroom (built
# by `cargo test`).
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${HEADROOM_VENV:-${TMPDIR:-/tmp}/headroom-notebook-venv}"
stamp="$venv/.requirements.sha"
want="$(sha256sum notebooks/requirements.txt | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r notebooks/requirements.txt
  echo "$want" > "$stamp"
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
target/debug/headroom sweep experiments/sweeps/small.toml --out "$out/sweep" --quiet
HEADROOM_SWEEP_DIR="$out/sweep" "$venv/bin/jupyter" nbconvert --to notebook --execute \
  --ExecutePreprocessor.timeout=300 --output-dir "$out" notebooks/capacity-report.ipynb
# The same against Parquet tables, when this build writes them.
if target/debug/headroom sweep experiments/sweeps/small.toml --out "$out/parquet" --format parquet --quiet 2>/dev/null; then
  HEADROOM_SWEEP_DIR="$out/parquet" "$venv/bin/jupyter" nbconvert --to notebook --execute \
    --ExecutePreprocessor.timeout=300 --output-dir "$out/pq" notebooks/capacity-report.ipynb
fi
echo "notebook: 1 passed, 0 failed"
