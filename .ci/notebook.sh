#!/usr/bin/env bash
# Executes notebooks/capacity-report.ipynb headless against two small sweeps;
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
target/debug/headroom sweep experiments/sweeps/small.toml --out "$out/sweep" --edge-timeseries --quiet
HEADROOM_SWEEP_DIR="$out/sweep" "$venv/bin/jupyter" nbconvert --to notebook --execute \
  --ExecutePreprocessor.timeout=300 --output-dir "$out" notebooks/capacity-report.ipynb
# The same against Parquet tables (the build's default `parquet` feature):
# Python polars reads every Parquet table equal to its CSV twin, then the
# notebook runs on the Parquet tables.
target/debug/headroom sweep experiments/sweeps/small.toml --out "$out/parquet" --format csv,parquet --edge-timeseries --quiet
"$venv/bin/python" - "$out/parquet" <<'PY'
import sys, pathlib
import polars as pl
d = pathlib.Path(sys.argv[1])
for stem in ["runs", "timeseries", "points", "frontier"]:
    pq = pl.read_parquet(d / f"{stem}.parquet")
    cs = pl.read_csv(d / f"{stem}.csv", infer_schema_length=None)
    assert cs.columns == pq.columns, stem
    cs = cs.with_columns(
        (pl.col(c) == 1) if t == pl.Boolean else pl.col(c).cast(t) for c, t in pq.schema.items()
    )
    assert cs.equals(pq), f"{stem}: Parquet differs from CSV"
    print(f"{stem}.parquet == {stem}.csv ({pq.height} rows, {pq.width} columns)")
PY
HEADROOM_SWEEP_DIR="$out/parquet" "$venv/bin/jupyter" nbconvert --to notebook --execute \
  --ExecutePreprocessor.timeout=300 --output-dir "$out/pq" notebooks/capacity-report.ipynb
# Under a per-region SLO the notebook judges, ranks and draws the worst
# client region's columns, and re-derives the recommendation the tool made
# (which the pooled columns would not: they meet the SLO at a cheaper point).
target/debug/headroom sweep experiments/sweeps/far-clients.toml --out "$out/far" --quiet
HEADROOM_SWEEP_DIR="$out/far" "$venv/bin/jupyter" nbconvert --to notebook --execute \
  --ExecutePreprocessor.timeout=300 --output-dir "$out/far-nb" notebooks/capacity-report.ipynb
echo "notebook: 3 passed (CSV, Parquet, per-region SLO), 0 failed"
