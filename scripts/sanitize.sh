#!/usr/bin/env bash
# The checking builds, each in a build directory of its own (the normal build is not touched):
#
#   scripts/sanitize.sh unit          the unit tests under AddressSanitizer + UndefinedBehaviorSanitizer
#                                     (clang 14, build-san; any report fails the run). `make test`, and
#                                     so CI, runs the unit tests only here
#   scripts/sanitize.sh fuzz [NAME..] every libFuzzer target of tests/fuzz (or those named) for
#                                     FUZZ_SECONDS each (default 60), from the seeds in
#                                     tests/fuzz/corpus; prints executions and coverage per target
#                                     and fails on a crash, a hang (> 1 s for one input), a leak or
#                                     memory over FUZZ_RSS_MB (default 2048), keeping the input
#                                     (clang 14, ASan+UBSan and libFuzzer's coverage, build-fuzz)
#   scripts/sanitize.sh fuzz-long [NAME]
#                                     one target (default fuzz_topology_loader) for FUZZ_RUNS
#                                     executions (default 10,000,000) over JOBS processes that share
#                                     its corpus, in a faster build (build-fuzz-long: -O2, LSan +
#                                     UBSan, no ASan): depth for crashes, hangs and leaks, where
#                                     `fuzz` is the short run that also catches memory errors
#   scripts/sanitize.sh tsan          the unit tests of threaded code under ThreadSanitizer (clang
#                                     14, build-tsan; any report fails): the files in k_tsan_files
#                                     below, less the fork server's case (see do_tsan)
#
# Each build compiles what its run needs: `unit` at -O0 (compiling is most of its time: on 2 cores
# 856 s cold, then 148 s to run every test), `fuzz` and `tsan` at -O1 (executions per second; TSan
# wants it), `fuzz-long` at -O2.
# Extra arguments of `unit` and `tsan` go to the doctest executable (-tc='plan*').
# Environment: LTB_SAN_BUILD_DIR (default <repo>/build-san), LTB_FUZZ_BUILD_DIR (build-fuzz),
# LTB_TSAN_BUILD_DIR (build-tsan), LTB_FUZZ_LONG_BUILD_DIR (build-fuzz-long), FUZZ_SECONDS,
# FUZZ_RSS_MB, FUZZ_RUNS, JOBS (default nproc).
set -euo pipefail

k_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly k_root
readonly k_san_dir="${LTB_SAN_BUILD_DIR:-$k_root/build-san}"
readonly k_fuzz_dir="${LTB_FUZZ_BUILD_DIR:-$k_root/build-fuzz}"
readonly k_tsan_dir="${LTB_TSAN_BUILD_DIR:-$k_root/build-tsan}"
readonly k_fuzz_long_dir="${LTB_FUZZ_LONG_BUILD_DIR:-$k_root/build-fuzz-long}"
readonly k_jobs="${JOBS:-$(nproc)}"
readonly k_fuzz_seconds="${FUZZ_SECONDS:-60}"
readonly k_fuzz_rss_mb="${FUZZ_RSS_MB:-2048}"
readonly k_cxx=clang++-14
readonly k_symbolizer=/usr/lib/llvm-14/bin/llvm-symbolizer
# The unit tests whose code runs threads: the executor's worker pool and the runs on it (apply,
# its locks, the property test's random plans, containerlab nodes' parallel starts), the scheduler
# and its daemon loop, the daemon (server, the fork server, web sessions, the container cache, the
# events stream), the host-wide admission lock, the state file's locks, subprocesses (exec drains
# stdout and stderr on threads). Not test_libvirt.cpp: libvirt's test driver runs libvirt's own
# machinery in the test process, uninstrumented, and publishes its objects between its threads
# through glib (slice allocator, main loop) under locks TSan cannot see, so every run reported
# races inside libvirt and glib (a mutex initialised by one thread and locked by another, memory
# freed and reused through glib's magazines); ltb's libvirt callbacks run on that thread too, so
# no suppression could keep them checked and silence libvirt.
readonly k_tsan_files='test_executor.cpp;test_apply.cpp;test_apply_locks.cpp;test_apply_property.cpp;test_apply_clab_nodes.cpp;test_scheduler.cpp;test_schedule_daemon.cpp;test_server.cpp;test_forkserver.cpp;test_web_auth.cpp;test_container_cache.cpp;test_events.cpp;test_service_admission.cpp;test_state.cpp;test_exec.cpp'

log() { printf '[%s] sanitize: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# Line tables only: what the reports need (symbolized stacks with lines) at much less compile time
# than -g. Debug, so that assert() is on. OPT is -O0 or -O1.
configure() {
  local dir=$1 opt=$2
  shift 2
  command -v "$k_cxx" >/dev/null || die "$k_cxx not found; run 'scripts/setup.sh deps' first"
  cmake -S "$k_root" -B "$dir" -DCMAKE_CXX_COMPILER="$k_cxx" -DCMAKE_BUILD_TYPE=Debug \
    "-DCMAKE_CXX_FLAGS_DEBUG=$opt -gline-tables-only" "$@" >/dev/null
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
# The first report ends the run with exit 66; the suppressions are third-party noise only.
readonly k_tsan_options="halt_on_error=1:second_deadlock_stack=1:external_symbolizer_path=$k_symbolizer:suppressions=$k_root/tests/tsan.supp"

do_unit() {
  local start=$SECONDS
  # -O0: compiling the library and the tests is most of the time this takes; the tests themselves
  # run fast enough unoptimised.
  configure "$k_san_dir" -O0 -DLTB_SANITIZE=address,undefined
  build "$k_san_dir" ltb-unit
  log "unit tests under ASan+UBSan"
  local run_start=$SECONDS
  local asan=detect_leaks=1:check_initialization_order=1:strict_init_order=1
  ASAN_OPTIONS=$asan "$k_san_dir/tests/ltb-unit" -tce='fork server*' "$@"
  # The fork server's children run a command in a copy of this process and exit(): LSan then
  # counts the parent's live memory, which the child never frees, as leaked (and the child's
  # exit status changes). Their leaks are not checked; everything else is.
  ASAN_OPTIONS=${asan/detect_leaks=1/detect_leaks=0} "$k_san_dir/tests/ltb-unit" \
    -tc='fork server*' "$@"
  log "unit tests under ASan+UBSan passed: run $((SECONDS - run_start)) s, build and run $((SECONDS - start)) s"
}

do_tsan() {
  local start=$SECONDS
  configure "$k_tsan_dir" -O1 -DLTB_SANITIZE=thread "-DLTB_UNIT_ONLY=$k_tsan_files"
  build "$k_tsan_dir" ltb-unit
  log "unit tests of threaded code under TSan: ${k_tsan_files//;/ }"
  local run_start=$SECONDS
  # Not 'fork server*': its server forks a copy of this process that goes on running code (no
  # exec), and TSan does not support a multi-threaded process's fork child that starts threads or
  # takes locks (the child can hang in TSan's own runtime, die_after_fork). The ASan+UBSan run
  # covers that case.
  TSAN_OPTIONS="$k_tsan_options" "$k_tsan_dir/tests/ltb-unit" -tce='fork server*' "$@"
  log "TSan: no report; run $((SECONDS - run_start)) s, build and run $((SECONDS - start)) s"
}

# The last value of NAME in a libFuzzer status line ("#123 DONE cov: 456 ft: 789 ...").
stat_of() {
  local name=$1 file=$2
  grep -oE "(^| )$name: +[0-9]+" "$file" | tail -n 1 | awk '{ print $NF }'
}

fuzz_one() {
  local name=$1
  local bin=$k_fuzz_dir/tests/fuzz/$name
  local seeds=$k_root/tests/fuzz/corpus/$name
  local corpus=$k_fuzz_dir/fuzz/corpus/$name
  local artifacts=$k_fuzz_dir/fuzz/artifacts
  local log_file=$k_fuzz_dir/fuzz/$name.log
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
  # -O1: executions per second matter more here than compile time.
  configure "$k_fuzz_dir" -O1 -DLTB_SANITIZE=address,undefined -DLTB_FUZZ=ON
  build "$k_fuzz_dir" fuzz-targets
  local names=("$@")
  if [[ ${#names[@]} -eq 0 ]]; then
    local source
    for source in "$k_root"/tests/fuzz/fuzz_*.cpp; do
      names+=("$(basename "$source" .cpp)")
    done
  fi
  log "fuzzing ${#names[@]} targets for ${k_fuzz_seconds} s each (logs in $k_fuzz_dir/fuzz)"
  local failed=0 name
  for name in "${names[@]}"; do
    fuzz_one "$name" || failed=$((failed + 1))
  done
  if [[ $failed -ne 0 ]]; then
    die "$failed of ${#names[@]} fuzz targets failed"
  fi
  log "no crash, hang or leak in ${#names[@]} fuzz targets"
}

# The long run: ASan's shadow memory and checks make the loader about 20 times slower than -O2
# (72 against 1,800 loads a second), which puts 10 million executions at more than a day. This
# build keeps what a long run looks for (crashes, inputs over 1 s, leaks, undefined behaviour) at
# -O2; the short `fuzz` runs keep ASan for memory errors.
do_fuzz_long() {
  local name=${1:-fuzz_topology_loader}
  local runs=${FUZZ_RUNS:-10000000}
  local start=$SECONDS
  # UBSan traps (SIGILL, which libFuzzer reports as a crash with its input): clang 14 links no
  # UBSan runtime beside LSan's, so handlers that report would not link.
  configure "$k_fuzz_long_dir" "-O2 -fsanitize-trap=undefined" -DLTB_SANITIZE=leak,undefined \
    -DLTB_FUZZ=ON
  build "$k_fuzz_long_dir" "$name"
  local bin=$k_fuzz_long_dir/tests/fuzz/$name
  local seeds=$k_root/tests/fuzz/corpus/$name
  local work=$k_fuzz_long_dir/fuzz
  local corpus=$work/corpus/$name
  mkdir -p "$corpus" "$work/artifacts" "$work/logs"
  rm -f "$work/logs/fuzz-"*.log
  local dict=()
  [[ $name != fuzz_topology_loader ]] || dict=(-dict="$k_root/tests/fuzz/topology.dict")
  local per_job=$(((runs + k_jobs - 1) / k_jobs))
  log "$name: $runs executions over $k_jobs jobs ($per_job each; logs in $work/logs)"
  local run_start=$SECONDS status=0
  # -jobs: each job is a process of its own with -runs of its own, all sharing the corpus.
  (cd "$work/logs" && "$bin" "$corpus" "$seeds" "${dict[@]}" -runs="$per_job" -jobs="$k_jobs" \
    -workers="$k_jobs" -timeout=1 -rss_limit_mb="$k_fuzz_rss_mb" -detect_leaks=1 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/$name-") >/dev/null 2>&1 || status=$?
  local total=0 job_runs file failed=0
  for file in "$work/logs/fuzz-"*.log; do
    job_runs=$(stat_of stat::number_of_executed_units "$file")
    total=$((total + ${job_runs:-0}))
    if grep -qE '^==[0-9]+==ERROR|runtime error|ALARM|deadly signal|out-of-memory' "$file"; then
      failed=$((failed + 1))
      grep -E '^==[0-9]+==ERROR|runtime error|ALARM|deadly signal|out-of-memory' "$file" |
        head -n 3 | sed 's/^/    /' >&2
    fi
  done
  local seconds=$((SECONDS - run_start))
  printf '  %-22s %10s runs in %s s (%s/s over %s jobs)  cov %s  ft %s\n' "$name" "$total" \
    "$seconds" "$((total / (seconds > 0 ? seconds : 1)))" "$k_jobs" \
    "$(cat "$work/logs/fuzz-"*.log | grep -oE ' cov: +[0-9]+' | awk '{ print $2 }' | sort -n | tail -n 1)" \
    "$(cat "$work/logs/fuzz-"*.log | grep -oE ' ft: +[0-9]+' | awk '{ print $2 }' | sort -n | tail -n 1)"
  if [[ $status -ne 0 || $failed -ne 0 ]]; then
    die "$name: $failed of $k_jobs jobs found a crash, hang or leak (exit $status); inputs in $work/artifacts"
  fi
  ((total >= runs)) || die "$name: only $total of $runs executions ran"
  log "$name: no crash, hang or leak in $total executions; build and run $((SECONDS - start)) s"
}

usage() {
  sed -n '2,28p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

main() {
  local cmd=${1:-}
  shift || true
  case $cmd in
  unit) do_unit "$@" ;;
  fuzz) do_fuzz "$@" ;;
  fuzz-long) do_fuzz_long "$@" ;;
  tsan) do_tsan "$@" ;;
  -h | --help | help) usage ;;
  *)
    usage >&2
    exit 2
    ;;
  esac
}

main "$@"
