// Admission with 10,000 existing reservations (target: under 50 ms per new reservation).
//
//   bench_admission [EXISTING] [CANDIDATES]
//
// Measures two things, each over CANDIDATES new reservations (default 200) beside EXISTING
// (default 10000) random ones over 30 days:
//   pure:  schedule::admit() over plain bookings (a fresh Timeline per candidate, as
//          `ltb reserve create` does), refusals included (those also compute a proposal);
//   state: what `ltb reserve create` does in its transaction on a state file holding the
//          reservations (each with a topology text): read them, build the bookings, admit, and
//          write the admitted one.
// Prints one line per measurement, then `pure_ms=X state_ms=Y` (means per new reservation) for
// tests/bench/run.sh. Exit status 1 when something failed (not when the target is missed).

#include "schedule/admission.hpp"
#include "schedule/ledger.hpp"
#include "state/store.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fmt/format.h>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

using namespace ltb::schedule;
using Clock = std::chrono::steady_clock;

constexpr double k_target_ms = 50;
constexpr Instant k_epoch = 1767225600; // 2026-01-01T00:00Z
constexpr Instant k_span = 30 * 24 * 3600;

struct Generator {
  std::mt19937_64 rng{20240514};
  Booking next(std::int64_t id) {
    std::uniform_int_distribution<Instant> start(k_epoch, k_epoch + k_span);
    std::uniform_int_distribution<int> minutes(30, 240);
    std::uniform_int_distribution<int> halves(1, 8);
    std::uniform_int_distribution<int> mib(1, 16);
    const Instant s = start(rng) / 60 * 60;
    return {id, fmt::format("lab{}", id), s, s + minutes(rng) * 60,
            Resources{halves(rng) / 2.0, mib(rng) * 256LL << 20, 0}};
  }
};

// About 1.5 times the mean concurrent demand: most random bookings are admitted, some refused
// (and a refusal also computes the earliest start that fits).
const Resources k_capacity{96, 4096LL << 30, 1LL << 40};

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// CPU time of this process, to tell a slow program from a busy machine.
double cpu_ms() {
  return static_cast<double>(std::clock()) * 1000.0 / CLOCKS_PER_SEC;
}

std::string topology_text(std::int64_t id) {
  std::string text = fmt::format("name: lab{}\ntopology:\n  nodes:\n", id);
  for (int i = 1; i <= 6; ++i) {
    text += fmt::format("    r{}:\n      kind: frr\n      startup-config: r{}.conf\n", i, i);
  }
  text += "  links:\n";
  for (int i = 1; i < 6; ++i) {
    text += fmt::format("    - endpoints: [\"r{}:eth1\", \"r{}:eth2\"]\n", i, i + 1);
  }
  return text;
}

} // namespace

int main(int argc, char **argv) {
  const int existing = argc > 1 ? std::atoi(argv[1]) : 10000;
  const int candidates = argc > 2 ? std::atoi(argv[2]) : 200;
  Generator gen;

  // The existing set: admitted one by one, so that it is a set admission could have produced.
  std::vector<Booking> bookings;
  Timeline timeline;
  for (std::int64_t id = 1; static_cast<int>(bookings.size()) < existing; ++id) {
    auto b = gen.next(id);
    if (timeline.check(b, k_capacity).admitted) {
      timeline.add(b);
      bookings.push_back(b);
    }
  }

  // pure
  int admitted = 0;
  auto start = Clock::now();
  double cpu = cpu_ms();
  for (int i = 0; i < candidates; ++i) {
    auto b = gen.next(1000000 + i);
    admitted += admit(bookings, b, k_capacity).admitted ? 1 : 0;
  }
  const double pure_ms = ms_since(start) / candidates;
  const double pure_cpu = (cpu_ms() - cpu) / candidates;
  fmt::print("pure admission, {} existing: {:.2f} ms per new reservation (cpu {:.2f} ms; {} of {} "
             "admitted), {:.3f} of the {} ms target\n",
             bookings.size(), pure_ms, pure_cpu, admitted, candidates, pure_ms / k_target_ms,
             k_target_ms);

  // state
  char dir_template[] = "/tmp/ltbtest-bench-admission.XXXXXX";
  if (mkdtemp(dir_template) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::filesystem::path dir(dir_template);
  auto cleanup = [&] {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  };
  auto opened = ltb::state::Store::open((dir / "state.db").string());
  if (!opened) {
    fmt::print(stderr, "bench_admission: {}\n", opened.error().message);
    cleanup();
    return 1;
  }
  auto &store = **opened;
  auto filled = store.transaction([&]() -> ltb::Status {
    for (const auto &b : bookings) {
      ltb::state::ReservationRecord r;
      r.lab = b.lab;
      r.owner = "bench";
      r.source = "/srv/labs/lab.yaml";
      r.topology_text = topology_text(b.id);
      r.start_at = b.start;
      r.end_at = b.end;
      r.state = k_pending;
      r.demand_cpus = b.demand.cpus;
      r.demand_memory_bytes = b.demand.memory_bytes;
      LTB_TRY(id, store.add_reservation(r));
      (void)id;
    }
    return {};
  });
  if (!filled) {
    fmt::print(stderr, "bench_admission: {}\n", filled.error().message);
    cleanup();
    return 1;
  }
  admitted = 0;
  start = Clock::now();
  cpu = cpu_ms();
  for (int i = 0; i < candidates; ++i) {
    auto b = gen.next(2000000 + i);
    auto done = store.transaction([&]() -> ltb::Status {
      LTB_TRY(all, current_bookings(store, k_epoch, DemandDefaults{}));
      if (!admit(all, b, k_capacity).admitted) {
        return {};
      }
      ltb::state::ReservationRecord r;
      r.lab = b.lab;
      r.topology_text = topology_text(b.id);
      r.start_at = b.start;
      r.end_at = b.end;
      r.state = k_pending;
      r.demand_cpus = b.demand.cpus;
      r.demand_memory_bytes = b.demand.memory_bytes;
      LTB_TRY(id, store.add_reservation(r));
      (void)id;
      ++admitted;
      return {};
    });
    if (!done) {
      fmt::print(stderr, "bench_admission: {}\n", done.error().message);
      cleanup();
      return 1;
    }
  }
  const double state_ms = ms_since(start) / candidates;
  const double state_cpu = (cpu_ms() - cpu) / candidates;
  fmt::print("admission through the state file, {} existing: {:.2f} ms per new reservation (cpu "
             "{:.2f} ms; {} of {} admitted), {:.3f} of the {} ms target\n",
             bookings.size(), state_ms, state_cpu, admitted, candidates, state_ms / k_target_ms,
             k_target_ms);
  fmt::print("pure_ms={:.3f} state_ms={:.3f}\n", pure_ms, state_ms);
  cleanup();
  return 0;
}
