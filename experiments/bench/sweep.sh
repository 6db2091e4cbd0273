#!/usr/bin/env bash
# experiments/bench/sweep.sh: sweep throughput, sharding and per-run overhead
# of the release `headroom` binary, back to back and repeated, medians.
#
#   (a) a fixed sweep (experiments/bench/sweep-fixed.toml, 8 points x 3
#       replications) with --threads 1 and --threads 2: runs per second
#       (points x replications / wall time) and the 2-thread speed-up;
#   (b) the same sweep as 2 shards run side by side (--shard 1/2 and 2/2,
#       one thread each) plus `headroom merge`, against 1 way with 2 threads;
#       the merged files must equal the unsharded ones byte for byte;
#   (c) a sweep of 1000 tiny points (experiments/bench/sweep-tiny.toml):
#       wall time per point, i.e. parse + plan + allocate + write overhead.
#
# Each variant runs REPEAT times (default 5), interleaved so that a burst of
# load from elsewhere on the machine hits every variant alike; the table
# prints medians. Usage, from the repository root:
#
#   experiments/bench/sweep.sh            # REPEAT=5
#   REPEAT=9 experiments/bench/sweep.sh
#   HEADROOM_BIN=target/release/headroom experiments/bench/sweep.sh   # no build
#   REPLICATIONS=12 experiments/bench/sweep.sh   # the fixed sweep at 8 x 12 = 96 runs
#
# With 24 runs of ~0.2 s each on 2 threads, the last run's tail is a tenth
# of the 2-thread wall time; REPLICATIONS scales the fixed sweep's runs
# (--replications) to measure the speed-up of a sweep of realistic size.
#
# Wall times include process start-up; nothing here is a test, no threshold
# fails it except a merge that differs from the unsharded sweep.
set -euo pipefail

cd "$(dirname "$0")/../.."
REPEAT="${REPEAT:-5}"
# HEADROOM_BIN=path skips the build (a build of this worktree relinks the
# binary whenever git's HEAD moves, since build.rs records the commit).
BIN="${HEADROOM_BIN:-target/release/headroom}"
FIXED=experiments/bench/sweep-fixed.toml
TINY=experiments/bench/sweep-tiny.toml
FIXED_ARGS=()
[ -z "${REPLICATIONS:-}" ] || FIXED_ARGS=(--replications "$REPLICATIONS")

[ -n "${HEADROOM_BIN:-}" ] || cargo build --release --locked -q -p headroom
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Seconds, with nanosecond resolution, of running "$@".
wall() {
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", b - a }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

sweep_1t() { rm -rf "$work/t1" && "$BIN" sweep "$FIXED" "${FIXED_ARGS[@]}" --threads 1 -q --out "$work/t1"; }
sweep_2t() { rm -rf "$work/t2" && "$BIN" sweep "$FIXED" "${FIXED_ARGS[@]}" --threads 2 -q --out "$work/t2"; }
sweep_sharded() {
    rm -rf "$work/s1" "$work/s2" "$work/merged"
    "$BIN" sweep "$FIXED" "${FIXED_ARGS[@]}" --shard 1/2 --threads 1 -q --out "$work/s1" &
    local first=$!
    "$BIN" sweep "$FIXED" "${FIXED_ARGS[@]}" --shard 2/2 --threads 1 -q --out "$work/s2"
    wait "$first"
    "$BIN" merge "$work/s1" "$work/s2" -q --out "$work/merged"
}
sweep_tiny() { rm -rf "$work/tiny" && "$BIN" sweep "$TINY" --threads 1 -q --out "$work/tiny"; }

# Runs of the fixed sweep: points x replications, from its own runs.csv.
sweep_1t >/dev/null
runs=$(($(wc -l <"$work/t1/runs.csv") - 1))
sweep_tiny >/dev/null
points_tiny=$(($(wc -l <"$work/tiny/runs.csv") - 1))

: >"$work/a1" && : >"$work/a2" && : >"$work/sh" && : >"$work/ti"
for i in $(seq "$REPEAT"); do
    wall sweep_1t >>"$work/a1"
    wall sweep_2t >>"$work/a2"
    wall sweep_sharded >>"$work/sh"
    wall sweep_tiny >>"$work/ti"
    echo "round $i/$REPEAT done" >&2
done

# The merged shards must be the unsharded sweep, byte for byte.
diff -r "$work/t2" "$work/merged" >/dev/null || {
    echo "error: merged shards differ from the unsharded sweep" >&2
    diff -rq "$work/t2" "$work/merged" >&2
    exit 1
}

# Back-to-back ratios, round by round: robust to the load drifting between rounds.
r2=$(paste "$work/a1" "$work/a2" | awk '{ printf "%.4f\n", $1 / $2 }' | median)
rsh=$(paste "$work/a1" "$work/sh" | awk '{ printf "%.4f\n", $1 / $2 }' | median)
m1=$(median <"$work/a1")
m2=$(median <"$work/a2")
msh=$(median <"$work/sh")
mti=$(median <"$work/ti")
cores=$(nproc)
awk -v runs="$runs" -v m1="$m1" -v m2="$m2" -v msh="$msh" -v mti="$mti" \
    -v n="$points_tiny" -v rep="$REPEAT" -v cores="$cores" -v r2="$r2" -v rsh="$rsh" 'BEGIN {
    printf "medians of %d rounds on %d cores; fixed sweep = %d runs\n\n", rep, cores, runs
    printf "| variant | wall s | runs/s | vs --threads 1 |\n|---|--:|--:|--:|\n"
    printf "| 1 way, --threads 1 | %.2f | %.1f | 1.00x |\n", m1, runs / m1
    printf "| 1 way, --threads 2 | %.2f | %.1f | %.2fx |\n", m2, runs / m2, m1 / m2
    printf "| 2 shards side by side (1 thread each) + merge | %.2f | %.1f | %.2fx |\n", msh, runs / msh, m1 / msh
    printf "\nmedian of the per-round ratios to --threads 1: --threads 2 %.2fx, 2 shards %.2fx\n", r2, rsh
    printf "sharded 2 ways vs 1 way (--threads 2): %.2fx\n", m2 / msh
    printf "per-run overhead: %d tiny points in %.2f s = %.2f ms per point (%.1f%% of a fixed-sweep run at %.1f ms)\n", \
        n, mti, 1000 * mti / n, 100 * (mti / n) / (m1 / runs), 1000 * m1 / runs
}'
