#!/usr/bin/env bash
# CI's share of the daemon's crash tests (tests/fault/serve.sh): 6 points, a request killed at a
# seam point or the daemon killed while it serves. `make fault` runs 50.
exec bash "$(dirname "${BASH_SOURCE[0]}")/../fault/serve.sh" --points "${FAULT_SERVE_POINTS:-6}" \
  --seed "${FAULT_SEED:-$(date -u +%Y%m%d)}"
