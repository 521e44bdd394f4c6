// The scheduler's lock and its sleep (timerfd + inotify + signals).
#include "schedule/daemon.hpp"
#include "schedule/scheduler.hpp"
#include "testutil.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <doctest/doctest.h>
#include <fstream>
#include <pthread.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

namespace {

std::int64_t now_ms() {
  return ltb::schedule::SystemClock().now_ms();
}

std::atomic<bool> g_stop{false};
void on_term(int) {
  g_stop.store(true);
}

} // namespace

TEST_CASE("one scheduler per state file") {
  ltb::test::TempDir dir;
  const auto state = dir.file("state.db");
  CHECK_FALSE(ltb::schedule::SchedulerLock::holder(state));
  auto first = ltb::schedule::SchedulerLock::acquire(state);
  REQUIRE(first);
  auto holder = ltb::schedule::SchedulerLock::holder(state);
  REQUIRE(holder);
  CHECK(*holder == ::getpid());
  auto second = ltb::schedule::SchedulerLock::acquire(state);
  REQUIRE_FALSE(second);
  CHECK(second.error().message.find("another scheduler (pid " + std::to_string(::getpid())) !=
        std::string::npos);
  // Another state file has its own scheduler.
  CHECK(ltb::schedule::SchedulerLock::acquire(dir.file("other.db")));
  { auto moved = std::move(*first); }
  CHECK_FALSE(ltb::schedule::SchedulerLock::holder(state));
  CHECK(ltb::schedule::SchedulerLock::acquire(state));
}

TEST_CASE("the wait ends at its time, on a write to the state file, or when stopped") {
  ltb::test::TempDir dir;
  const auto state = dir.file("state.db");
  dir.write("state.db", "x");
  auto waiter = ltb::schedule::Waiter::open(state);
  REQUIRE(waiter);
  std::atomic<bool> stop{false};

  // Waits that should end by an event get a far deadline: reaching it fails the test (the reason
  // is `time`), and no assertion depends on how fast the machine is.
  const std::int64_t k_far_ms = 60'000;

  SUBCASE("time") {
    auto until = now_ms() + 300;
    auto woke = waiter->wait(until, &stop);
    REQUIRE(woke);
    CHECK(*woke == ltb::schedule::WakeReason::time);
    // The timer is absolute on the same clock: it never ends early.
    CHECK(now_ms() >= until);
    // A time in the past returns at once.
    auto past = waiter->wait(until - 5000, &stop);
    REQUIRE(past);
    CHECK(*past == ltb::schedule::WakeReason::time);
  }
  SUBCASE("a write to the WAL, not to an unrelated file or the lock") {
    // The watch exists since open(): these events are queued before the wait and must not end it.
    dir.write("unrelated.txt", "no");
    dir.write("state.db.schedule.lock", "123\n");
    auto quiet = waiter->wait(now_ms() + 200, &stop);
    REQUIRE(quiet);
    CHECK(*quiet == ltb::schedule::WakeReason::time);
    // A write to the WAL while the wait blocks ends it.
    const pid_t waiting = ::gettid();
    std::thread writer([&] {
      ltb::test::wait_until_in_syscall(waiting, {SYS_ppoll});
      dir.write("state.db-wal", "yes");
    });
    auto woke = waiter->wait(now_ms() + k_far_ms, &stop);
    writer.join();
    REQUIRE(woke);
    CHECK(*woke == ltb::schedule::WakeReason::changed);
  }
  SUBCASE("a stop flag already set") {
    stop = true;
    auto woke = waiter->wait(now_ms() + 5000, &stop);
    REQUIRE(woke);
    CHECK(*woke == ltb::schedule::WakeReason::stopped);
  }
  SUBCASE("SIGTERM during the wait") {
    struct sigaction action {};
    struct sigaction old {};
    action.sa_handler = on_term;
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, &old);
    g_stop = false;
    const pid_t self = ::getpid();
    const pid_t waiting = ::gettid();
    std::thread killer([self, waiting] {
      // Blocked here, so the signal goes to the waiting thread.
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, SIGTERM);
      pthread_sigmask(SIG_BLOCK, &set, nullptr);
      ltb::test::wait_until_in_syscall(waiting, {SYS_ppoll});
      ::kill(self, SIGTERM);
    });
    auto woke = waiter->wait(now_ms() + k_far_ms, &g_stop);
    killer.join();
    sigaction(SIGTERM, &old, nullptr);
    REQUIRE(woke);
    CHECK(*woke == ltb::schedule::WakeReason::stopped);
  }
}
