#!/usr/bin/env bash
# CI's sample of the crash tests (tests/fault/fault.sh, where the points and the checks are
# described): 50 kill points over every scenario, two labs side by side. The seed is the date, so
# that successive runs cover other points; it is printed, and `tests/fault/fault.sh --seed S
# --points 50 --workers 2` repeats a run. `make fault` runs 1,000 points.
exec bash "$(dirname "${BASH_SOURCE[0]}")/../fault/fault.sh" --points "${FAULT_POINTS:-50}" \
  --workers "${FAULT_WORKERS:-2}" --seed "${FAULT_SEED:-$(date -u +%Y%m%d)}"
