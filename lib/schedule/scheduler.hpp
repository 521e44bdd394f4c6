#pragma once
// The scheduler: a state machine over reservations that deploys each lab when its window opens and
// removes it when the window closes. It sees the world through three seams (Clock, Book, Deployer)
// so that tests drive it with a fake clock and fake deployer, and `ltb schedule run` with the real
// ones. One pass (run_due) does everything due at "now" and says when to wake next.
//
// Rules, per reservation:
//   pending, window open      -> deploy (late when the start was missed); ok: active
//   deploy failed             -> failed, reason, attempts+1, retry after backoff while open
//   active, end reached       -> remove its lab; ok: ended (a failed removal is retried)
//   pending, window passed    -> failed "missed" (nothing ran during the whole window)
//   cancelled / failed / orphaned, lab still deployed by it -> remove at once
// The scheduler remembers which reservation deployed which lab ("holds", in the state file's meta
// table); it never removes a lab it did not deploy, and refuses to take over a lab of that name
// that was deployed outside it. Running a pass twice changes nothing the second time.

#include "schedule/time.hpp"
#include "state/store.hpp"
#include "util/error.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ltb::schedule {

/// Wall-clock time, in milliseconds so that lateness can be measured below a second.
class Clock {
public:
  virtual ~Clock() = default;
  virtual std::int64_t now_ms() = 0;
  Instant now() { return floor_seconds(now_ms()); }
  static Instant floor_seconds(std::int64_t ms) { return ms >= 0 ? ms / 1000 : (ms - 999) / 1000; }
};

class SystemClock : public Clock {
public:
  std::int64_t now_ms() override;
};

/// That a reservation deployed a lab (its resources may exist), and the retry state of removing
/// it. Kept by lab name: one lab name has at most one holder.
struct Hold {
  std::int64_t reservation = 0;
  std::int64_t retry_at = 0; // earliest next removal attempt after a failed one; 0 = at once
  int attempts = 0;          // failed removal attempts
};

/// What the scheduler reads and writes in the state file.
class Book {
public:
  virtual ~Book() = default;
  virtual Result<std::vector<state::ReservationRecord>> reservations() = 0;
  /// Writes the scheduler's fields of `r` (state, reason, attempts, next_attempt_at), but only
  /// when the stored state is still `expected`: a user who cancelled or changed the reservation
  /// meanwhile wins. Returns whether it was written.
  virtual Result<bool> update(const state::ReservationRecord &r, const std::string &expected) = 0;
  virtual Result<std::map<std::string, Hold>> holds() = 0;
  /// Sets (or with nullopt clears) the hold on `lab`.
  virtual Status put_hold(const std::string &lab, const std::optional<Hold> &hold) = 0;
  /// Whether the state file records a lab of that name (deployed or partly deployed).
  virtual Result<bool> lab_recorded(const std::string &lab) = 0;
};

/// The real Book: reservations through Store, holds as JSON under meta "schedule.holds".
class StoreBook : public Book {
public:
  explicit StoreBook(state::Store &store) : m_store(store) {}
  Result<std::vector<state::ReservationRecord>> reservations() override;
  Result<bool> update(const state::ReservationRecord &r, const std::string &expected) override;
  Result<std::map<std::string, Hold>> holds() override;
  Status put_hold(const std::string &lab, const std::optional<Hold> &hold) override;
  Result<bool> lab_recorded(const std::string &lab) override;

private:
  state::Store &m_store;
};

/// Deploys and removes labs. Errors with ExitCode::interrupted mean "stopped by a signal": the
/// scheduler then leaves the reservation as it was and stops the pass.
class Deployer {
public:
  virtual ~Deployer() = default;
  /// `ltb up` of the reservation's stored topology as lab r.lab.
  virtual Status deploy(const state::ReservationRecord &r) = 0;
  /// `ltb down --lab LAB`; removing a lab that is not there succeeds.
  virtual Status remove(const std::string &lab) = 0;
};

/// Seconds to wait after the n-th consecutive failure (n >= 1): 10 s, 30 s, 1 m, 2 m, 5 m, then
/// 5 m.
std::int64_t backoff_seconds(int failures);

/// When reservation `r` next needs the scheduler, given the hold on its lab when it is the
/// holder (nullptr otherwise). A time <= now means "due now"; nullopt means never (history).
std::optional<Instant> attention_at(const state::ReservationRecord &r, const Hold *hold,
                                    Instant now);

/// Something the scheduler will do, for `ltb schedule status`.
struct Event {
  Instant at = 0;
  std::int64_t reservation = 0; // 0 for a hold without its reservation
  std::string lab;
  std::string what; // "deploy", "remove", "retry deploy", "retry removal", "close"
};

/// The coming events, earliest first (due ones first of all).
std::vector<Event> upcoming(const std::vector<state::ReservationRecord> &reservations,
                            const std::map<std::string, Hold> &holds, Instant now);

/// The earliest of upcoming(): when a scheduler must next run. nullopt = nothing scheduled.
std::optional<Instant> next_wake(const std::vector<state::ReservationRecord> &reservations,
                                 const std::map<std::string, Hold> &holds, Instant now);

/// The reservation each lab is under now, by lab name: active ones, and pending or failed ones
/// whose window is open (a deploy or retry is coming; a partial lab is removed at the end). For
/// `ltb status`.
std::map<std::string, state::ReservationRecord>
reserved_labs(const std::vector<state::ReservationRecord> &reservations, Instant now);

struct PassReport {
  int deployed = 0;
  int removed = 0;
  int failed = 0;  // failed deploys and removals
  int changed = 0; // every state change, including the above
  bool interrupted = false;
  std::optional<Instant> next_wake;
};

class Scheduler {
public:
  using Log = std::function<void(const std::string &line)>;
  Scheduler(Book &book, Deployer &deployer, Clock &clock, Log log,
            const std::atomic<bool> *stop = nullptr)
      : m_book(book), m_deployer(deployer), m_clock(clock), m_log(std::move(log)), m_stop(stop) {}

  /// Does everything due now (repeating while actions make more things due), then computes when
  /// to wake next. Errors only when the state file cannot be read or written.
  Result<PassReport> run_due();

private:
  Status act(const state::ReservationRecord &r, std::map<std::string, Hold> &holds,
             PassReport &report);
  Status deploy(const state::ReservationRecord &r, std::map<std::string, Hold> &holds,
                PassReport &report);
  Status remove(const std::string &lab, const state::ReservationRecord *r,
                std::map<std::string, Hold> &holds, PassReport &report);
  Status write(state::ReservationRecord updated, const state::ReservationRecord &before,
               PassReport &report);
  bool stopping() const { return m_stop && m_stop->load(); }

  Book &m_book;
  Deployer &m_deployer;
  Clock &m_clock;
  Log m_log;
  const std::atomic<bool> *m_stop;
};

} // namespace ltb::schedule
