#!/usr/bin/env bash
# The checking builds, each in a build directory of its own (the normal build is not touched):
#
#   scripts/sanitize.sh unit          the unit tests under AddressSanitizer + UndefinedBehaviorSanitizer
#                                     (clang 14, build-san; any report fails the run)
#   scripts/sanitize.sh fuzz [NAME..] every libFuzzer target of tests/fuzz (or those named) for
#                                     FUZZ_SECONDS each (default 60), from the seeds in
#                                     tests/fuzz/corpus; prints executions and coverage per target
#                                     and fails on a crash, a hang (> 1 s for one input), a leak or
#                                     memory over FUZZ_RSS_MB (default 2048), keeping the input
#
# `unit` and `fuzz` share one build: the library is compiled once with address,undefined and
# libFuzzer's coverage (-fsanitize=fuzzer-no-link); only the fuzz targets link libFuzzer itself.
# Environment: LTB_SAN_BUILD_DIR (default <repo>/build-san), FUZZ_SECONDS, FUZZ_RSS_MB, JOBS
# (default nproc).
set -euo pipefail

k_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly k_root
readonly k_san_dir="${LTB_SAN_BUILD_DIR:-$k_root/build-san}"
readonly k_jobs="${JOBS:-$(nproc)}"
readonly k_fuzz_seconds="${FUZZ_SECONDS:-60}"
readonly k_fuzz_rss_mb="${FUZZ_RSS_MB:-2048}"
readonly k_cxx=clang++-14
readonly k_symbolizer=/usr/lib/llvm-14/bin/llvm-symbolizer

log() { printf '[%s] sanitize: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# -O1 and line tables only: what the reports need (symbolized stacks with lines) at much less
# compile time than -O2 -g. Debug, so that assert() is on.
configure() {
  local dir=$1
  shift
  command -v "$k_cxx" >/dev/null || die "$k_cxx not found; run 'scripts/setup.sh deps' first"
  cmake -S "$k_root" -B "$dir" -DCMAKE_CXX_COMPILER="$k_cxx" -DCMAKE_BUILD_TYPE=Debug \
    "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -gline-tables-only" "$@" >/dev/null
}

build() {
  local dir=$1
  shift
  local start=$SECONDS
  cmake --build "$dir" -j"$k_jobs" --target "$@"
  log "built $* in $((SECONDS - start)) s"
}

export ASAN_SYMBOLIZER_PATH=$k_symbolizer
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:external_symbolizer_path=$k_symbolizer

do_unit() {
  configure "$k_san_dir" -DLTB_SANITIZE=address,undefined -DLTB_FUZZ=ON
  build "$k_san_dir" ltb-unit
  log "unit tests under ASan+UBSan"
  local start=$SECONDS
  local asan=detect_leaks=1:check_initialization_order=1:strict_init_order=1
  ASAN_OPTIONS=$asan "$k_san_dir/tests/ltb-unit" -tce='fork server*' "$@"
  # The fork server's children run a command in a copy of this process and exit(): LSan then
  # counts the parent's live memory, which the child never frees, as leaked (and the child's
  # exit status changes). Their leaks are not checked; everything else is.
  ASAN_OPTIONS=${asan/detect_leaks=1/detect_leaks=0} "$k_san_dir/tests/ltb-unit" \
    -tc='fork server*' "$@"
  log "unit tests under ASan+UBSan passed in $((SECONDS - start)) s"
}

# The last value of NAME in a libFuzzer status line ("#123 DONE cov: 456 ft: 789 ...").
stat_of() {
  local name=$1 file=$2
  grep -oE "(^| )$name: +[0-9]+" "$file" | tail -n 1 | awk '{ print $NF }'
}

fuzz_one() {
  local name=$1
  local bin=$k_san_dir/tests/fuzz/$name
  local seeds=$k_root/tests/fuzz/corpus/$name
  local corpus=$k_san_dir/fuzz/corpus/$name
  local artifacts=$k_san_dir/fuzz/artifacts
  local log_file=$k_san_dir/fuzz/$name.log
  mkdir -p "$corpus" "$artifacts"
  local dict=()
  case $name in
  fuzz_topology_loader) dict=(-dict="$k_root/tests/fuzz/topology.dict") ;;
  fuzz_docker_json | fuzz_api_request | fuzz_access_files) dict=(-dict="$k_root/tests/fuzz/json.dict") ;;
  esac
  local status=0
  # New inputs go to the build directory's corpus (the first one); the seeds are only read.
  ASAN_OPTIONS=detect_leaks=1 "$bin" "$corpus" "$seeds" "${dict[@]}" \
    -max_total_time="$k_fuzz_seconds" -timeout=1 -rss_limit_mb="$k_fuzz_rss_mb" \
    -detect_leaks=1 -print_final_stats=1 -artifact_prefix="$artifacts/$name-" \
    >"$log_file" 2>&1 || status=$?
  local runs cov ft per_second
  runs=$(stat_of stat::number_of_executed_units "$log_file" | sed 's/^$/0/')
  cov=$(stat_of cov "$log_file")
  ft=$(stat_of ft "$log_file")
  per_second=$(stat_of stat::average_exec_per_sec "$log_file")
  local artifact
  artifact=$(grep -oE "Test unit written to [^ ]+" "$log_file" | tail -n 1 | awk '{ print $5 }')
  # libFuzzer times an input by the wall clock: on a loaded machine (2 shared cores) a fast input
  # is sometimes descheduled past the limit. A hang counts when replaying the input alone hangs.
  if [[ $status -ne 0 && -n $artifact && $artifact == *-timeout-* ]] &&
    ASAN_OPTIONS=detect_leaks=1 "$bin" -timeout=1 -runs=3 "$artifact" >>"$log_file" 2>&1; then
    log "$name: the input that timed out ran in time alone (machine load); kept in $artifact"
    status=0
  fi
  printf '  %-22s %10s runs %7s/s  cov %6s  ft %6s  %s\n' "$name" "${runs:-0}" \
    "${per_second:-0}" "${cov:--}" "${ft:--}" "$([[ $status -eq 0 ]] && echo ok || echo FAILED)"
  if [[ $status -ne 0 ]]; then
    grep -E '^==[0-9]+==ERROR|runtime error|ALARM|deadly signal|out-of-memory|leak' "$log_file" |
      head -n 5 | sed 's/^/    /' >&2 || true
    log "$name failed; log $log_file${artifact:+; input $artifact (reproduce: $bin $artifact)}"
    return 1
  fi
}

do_fuzz() {
  configure "$k_san_dir" -DLTB_SANITIZE=address,undefined -DLTB_FUZZ=ON
  build "$k_san_dir" fuzz-targets
  local names=("$@")
  if [[ ${#names[@]} -eq 0 ]]; then
    local source
    for source in "$k_root"/tests/fuzz/fuzz_*.cpp; do
      names+=("$(basename "$source" .cpp)")
    done
  fi
  log "fuzzing ${#names[@]} targets for ${k_fuzz_seconds} s each (logs in $k_san_dir/fuzz)"
  local failed=0 name
  for name in "${names[@]}"; do
    fuzz_one "$name" || failed=$((failed + 1))
  done
  if [[ $failed -ne 0 ]]; then
    die "$failed of ${#names[@]} fuzz targets failed"
  fi
  log "no crash, hang or leak in ${#names[@]} fuzz targets"
}

usage() {
  sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

main() {
  local cmd=${1:-}
  shift || true
  case $cmd in
  unit) do_unit "$@" ;;
  fuzz) do_fuzz "$@" ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
  esac
}

main "$@"
