#!/usr/bin/env bash
# Runs the test suite with ctest from the build directory; extra arguments go to ctest
# (for example -L unit). Fails when no test ran, and with CI=true also when any test was skipped:
# CI must run everything.
set -euo pipefail

k_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly k_root
readonly k_build_dir="${LTB_BUILD_DIR:-$k_root/build}"

if [[ ! -f $k_build_dir/CTestTestfile.cmake ]]; then
  echo "run-tests: no tests in $k_build_dir; build first (scripts/setup.sh build)" >&2
  exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
ctest --test-dir "$k_build_dir" --output-on-failure --no-tests=error "$@" 2>&1 | tee "$log" ||
  status=${PIPESTATUS[0]}

if [[ ${CI:-} == true ]] && grep -qE '\*\*\*Skipped|\(Skipped\)' "$log"; then
  echo "run-tests: CI=true and some tests were skipped (see above); nothing may be skipped in CI" >&2
  status=1
fi
exit "$status"
