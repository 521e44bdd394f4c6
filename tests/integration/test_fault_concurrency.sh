#!/usr/bin/env bash
# CI's share of the concurrency test (tests/fault/concurrency.sh): 3 rounds of 10 ltb processes
# at once on one state file. `make fault` runs 100 rounds.
exec bash "$(dirname "${BASH_SOURCE[0]}")/../fault/concurrency.sh" --rounds "${FAULT_ROUNDS:-3}" \
  --seed "${FAULT_SEED:-$(date -u +%Y%m%d)}"
