#!/usr/bin/env bash
# Repeated full vitest runs of one commit, for flake rates (issue #11 item 8; docs/testing.md).
# usage: bash scripts/flake-hunt.sh [RUNS=20] [--busy]   (--busy keeps one core spinning meanwhile)
# Each run gets its own log under .scratch/flakes/; one summary line per run in summary.txt.
set -uo pipefail
cd "$(dirname "$0")/.."
runs="${1:-20}"; busy="${2:-}"
out=.scratch/flakes; mkdir -p "$out"
node scripts/setup.mjs --quiet || exit 1
spinner=
if [ "$busy" = "--busy" ]; then node -e 'for (;;) {}' & spinner=$!; fi
trap '[ -n "$spinner" ] && kill "$spinner" 2>/dev/null' EXIT
red=0
for i in $(seq 1 "$runs"); do
  start=$(date +%s)
  FC_SEED="${FC_SEED:-424242}" npx vitest run --reporter=dot > "$out/run-$i.log" 2>&1; rc=$?
  [ "$rc" -ne 0 ] && red=$((red + 1))
  line="run $i rc=$rc $(( $(date +%s) - start ))s load=$(cut -d' ' -f1 /proc/loadavg) $(sed 's/\x1b\[[0-9;]*m//g' "$out/run-$i.log" | grep -aE '^ +Tests ' | tail -1)"
  echo "$line" | tee -a "$out/summary.txt"
  sed 's/\x1b\[[0-9;]*m//g' "$out/run-$i.log" | grep -a '^ FAIL ' | sort -u | tee -a "$out/summary.txt"
done
echo "$red of $runs runs red" | tee -a "$out/summary.txt"
