#!/usr/bin/env bash
# experiments/search/validate.sh: the adaptive search against the full grid
# it replaces, on sweeps small enough to run in full.
#
#   mmc   experiments/search/mmc.toml   replicas x instance size (M/M/c)
#   data  experiments/search/data.toml  cache capacity x shards (data tier)
#   seed  experiments/seed.toml + a [sweep] over min_replicas x workers x
#         queue of its API tier (as tests/planner_seed.rs isolates it), run
#         with 2-minute replications via --set so that the grid is feasible
#         on two cores
#
# For each: the grid (`headroom sweep`, mode forced to grid) and the search
# (`headroom search`), back to back with the same flags; prints runs made,
# the recommended point of each (the search's must be the grid's, or one of
# equal cost whose SLO holds), wall-clock seconds and the grid/search
# ratio, and the search's own overhead line. Usage, from the repository
# root:
#
#   experiments/search/validate.sh            # all three
#   experiments/search/validate.sh mmc seed   # some
#   HEADROOM_BIN=target/release/headroom experiments/search/validate.sh   # no build
#   SKIP_GRID=1 experiments/search/validate.sh seed   # reuse the last grid run and its time
#
# Outputs stay in out/search-validation/<case>/{grid,search}.
set -euo pipefail

cd "$(dirname "$0")/../.."
BIN="${HEADROOM_BIN:-target/release/headroom}"
[ -n "${HEADROOM_BIN:-}" ] || cargo build --release --locked -q -p headroom
root=out/search-validation
mkdir -p "$root"

seed_scenario() {
    cat experiments/seed.toml - > "$root/seed-sweep.toml" <<'TOML'
[sweep]
replications = 3
monotone = ["policy.autoscaler.api.min_replicas", "services.api.instance.workers"]
[sweep.params]
"policy.autoscaler.api.min_replicas" = [2, 3, 4, 5, 6, 7, 8]
"services.api.instance.workers" = [2, 3, 4, 6, 8]
"services.api.instance.queue" = [25, 50, 100, 200]
TOML
    echo "$root/seed-sweep.toml"
}

# The seed's API tier alone (see tests/planner_seed.rs): one region, no
# data-tier step (and no data-tier prices: the store is off the path), no
# edge-cache answers, the autoscaler held at its minimum.
SEED_SETS=(
    --set run.duration=2m --set run.warmup=30s
    --set 'slo={ p99 = "30ms", availability = 0.999 }'
    --set policy.autoscaler.api.target_rps=1000000.0
    --set 'services.api.regions=["us-east"]'
    --set 'workload.origin={ us-east = 1.0 }'
    --set 'services.api.calls=[]'
    --set edge.cache.cacheable_fraction=0.0
    --set 'costs.data={}'
)

now() { date +%s.%N; }

# The recommended point's parameter lines and cost line.
recommended() {
    if [ -f "$1/recommendation.toml" ]; then
        grep -E '^#   |cost [0-9]' "$1/recommendation.toml" | sed 's/^# *//' | tr '\n' ' '
    else
        echo "none"
    fi
}

run_case() {
    local name="$1" scenario="$2"; shift 2
    local dir="$root/$name"
    mkdir -p "$dir"
    local t0 t1 t2
    if [ -n "${SKIP_GRID:-}" ] && [ -f "$dir/grid.seconds" ]; then
        # Reuse the grid run (it does not depend on the search's code).
        t1=$(now)
        t0=$(awk -v t="$t1" -v g="$(cat "$dir/grid.seconds")" 'BEGIN { printf "%.3f", t - g }')
    else
        t0=$(now)
        "$BIN" sweep "$scenario" --set 'sweep.mode="grid"' --out "$dir/grid" --quiet "$@"
        t1=$(now)
        awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }' > "$dir/grid.seconds"
    fi
    "$BIN" search "$scenario" --out "$dir/search" "$@" > "$dir/search.log"
    t2=$(now)
    local grid_runs search_runs
    grid_runs=$(($(wc -l < "$dir/grid/runs.csv") - 1))
    search_runs=$(($(wc -l < "$dir/search/runs.csv") - 1))
    echo "== $name"
    echo "grid:   $grid_runs runs, $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s; recommends $(recommended "$dir/grid")"
    echo "search: $search_runs runs, $(awk -v a="$t1" -v b="$t2" 'BEGIN { printf "%.1f", b - a }') s; recommends $(recommended "$dir/search")"
    echo "runs ratio $(awk -v g="$grid_runs" -v s="$search_runs" 'BEGIN { printf "%.1f", g / s }')x, wall-clock ratio grid/search $(awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "%.1f", (b - a) / (c - b) }')x"
    grep -E '^[0-9]+ runs \(' "$dir/search.log" || true
    grep -E '^(The search|The budget|Best|No point)' "$dir/search.log" || true
}

cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(mmc data seed)
for c in "${cases[@]}"; do
    case "$c" in
        mmc) run_case mmc experiments/search/mmc.toml ;;
        data) run_case data experiments/search/data.toml ;;
        seed) run_case seed "$(seed_scenario)" "${SEED_SETS[@]}" ;;
        *) echo "unknown case $c (mmc, data, seed)" >&2; exit 2 ;;
    esac
done
