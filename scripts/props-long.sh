#!/usr/bin/env bash
# Long property runs (not part of CI): the pure property suites at FC_NUM_RUNS (default 2000),
# then the real-Python fault-schedule suite at FAULT_RUNS (default 50) — each of its runs starts
# and kills real interpreters, so it gets far fewer. Pin a seed with FC_SEED to replay.
# Usage: scripts/props-long.sh            FC_NUM_RUNS=5000 FAULT_RUNS=200 scripts/props-long.sh
set -euo pipefail
cd "$(dirname "$0")/.."
FC_NUM_RUNS="${FC_NUM_RUNS:-2000}" npx vitest run test/property --exclude 'test/property/faults-schedule.test.ts'
FC_NUM_RUNS="${FAULT_RUNS:-50}" npx vitest run test/property/faults-schedule.test.ts
