#!/usr/bin/env bash
# docs/worked-example.sh: the README's worked example. Sweeps the seed
# scenario (experiments/seed.toml, unchanged, with a [sweep] table appended)
# over read-replica placement and two API-tier values, draws the charts, and renders the HTML
# report to a PNG; the pictures README shows are copied into docs/.
#
#   docs/worked-example.sh [OUT_DIR]     # default out/worked-example
#
# Only the simulated duration is shortened (--set run.duration=...), so the
# example takes minutes, not hours, on two cores.
set -euo pipefail

cd "$(dirname "$0")/.."
out="${1:-out/worked-example}"
# HEADROOM_BIN=path skips the build (build.rs relinks whenever HEAD moves).
bin="${HEADROOM_BIN:-target/release/headroom}"
[ -n "${HEADROOM_BIN:-}" ] || cargo build --release --locked -q -p headroom

mkdir -p "$out"
scenario="$out/seed-sweep.toml"
{
    cat experiments/seed.toml
    cat <<'TOML'

# Appended by docs/worked-example.sh: where the user store's read replicas
# are, and two values of the API tier.
[sweep]
replications = 3
[sweep.params]
"datastores.users.replicas" = [["us-west", "eu-west"], ["us-west", "eu-west", "ap-south"]]
"policy.autoscaler.api.min_replicas" = [1, 3]
"services.api.instance.workers" = [4, 8]
TOML
} >"$scenario"

# The seed's own SLO: p99 100 ms, availability 0.999.
"$bin" sweep "$scenario" --out "$out/sweep" \
    --set run.duration=5m --set run.warmup=1m --set run.timeseries_interval=30s
"$bin" plot "$out/sweep"
docs/render-report.sh "$out/sweep/report.html" docs/worked-example-report.png 1200 2400
for chart in cost_vs_p99 effect_datastores.users.replicas; do
    cp "$out/sweep/$chart.png" "docs/worked-example-${chart//[._]/-}.png"
done
ls -l docs/worked-example-*.png
