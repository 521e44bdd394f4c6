// The systemd units and cron line `ltb schedule install` writes, and the drop-in refresh_wakeup
// keeps in step. systemd-analyze (package systemd) checks them as systemd would.
#include "schedule/scheduler.hpp"
#include "schedule/units.hpp"
#include "state/store.hpp"
#include "testutil.hpp"
#include "util/exec.hpp"

#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace {

using ltb::schedule::Instant;

std::string slurp(const std::string &path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool have_systemd_analyze() {
  auto r = ltb::util::run({"systemd-analyze", "--version"});
  return r && r->exit_code == 0;
}

/// `systemd-analyze verify FILES`: rc 0 and nothing on stderr (it only warns, with rc 0, about a
/// setting it ignores).
void verify(const std::vector<std::string> &files) {
  std::vector<std::string> argv{"systemd-analyze", "verify"};
  argv.insert(argv.end(), files.begin(), files.end());
  auto r = ltb::util::run(argv);
  REQUIRE(r);
  INFO("stderr: " << r->err);
  CHECK(r->exit_code == 0);
  CHECK(r->err.empty());
}

std::string calendar_normalized(const std::string &spec) {
  auto r = ltb::util::run({"systemd-analyze", "calendar", spec});
  REQUIRE(r);
  INFO("calendar " << spec << ": " << r->err);
  REQUIRE(r->exit_code == 0);
  auto at = r->out.find("Normalized form: ");
  REQUIRE(at != std::string::npos);
  auto line = r->out.substr(at + 17);
  return line.substr(0, line.find('\n'));
}

ltb::state::ReservationRecord booking(const std::string &lab, Instant start, Instant end) {
  ltb::state::ReservationRecord r;
  r.lab = lab;
  r.owner = "teacher";
  r.source = "/tmp/lab.yaml";
  r.topology_text = "name: " + lab + "\n";
  r.start_at = start;
  r.end_at = end;
  r.state = "pending";
  return r;
}

} // namespace

TEST_CASE("calendar specs are UTC instants that systemd reads back unchanged") {
  REQUIRE_MESSAGE(have_systemd_analyze(), "systemd-analyze is missing: apt-get install systemd");
  CHECK(ltb::schedule::calendar_spec(0) == "1970-01-01 00:00:00 UTC");
  CHECK(ltb::schedule::calendar_spec(1715677200) == "2024-05-14 09:00:00 UTC");
  for (Instant t : {Instant{1715677200}, Instant{1893456000 + 86399}, Instant{1709164800}}) {
    auto spec = ltb::schedule::calendar_spec(t);
    CHECK(calendar_normalized(spec) == spec);
  }
}

TEST_CASE("ExecStart words are quoted and escaped for systemd") {
  using ltb::schedule::unit_word;
  CHECK(unit_word("/usr/bin/ltb") == "/usr/bin/ltb");
  CHECK(unit_word("/srv/my labs/state.db") == "\"/srv/my labs/state.db\"");
  CHECK(unit_word("/srv/100%/s.db") == "/srv/100%%/s.db");
  CHECK(unit_word("a\"b") == "\"a\\\"b\"");
}

TEST_CASE("the generated units, drop-in and cron line pass systemd-analyze verify") {
  REQUIRE_MESSAGE(have_systemd_analyze(), "systemd-analyze is missing: apt-get install systemd");
  ltb::test::TempDir dir;
  // verify needs ExecStart's program to exist; a state path with a space and a % on purpose.
  const std::string state = dir.file("my state/100%.db");
  dir.write("units/ltb-schedule.service", ltb::schedule::service_text("/bin/true", state));
  dir.write("units/ltb-schedule.timer", ltb::schedule::timer_text(state));
  dir.write("units/ltb-schedule.timer.d/50-next-event.conf",
            ltb::schedule::dropin_text(Instant{1715677200}));
  verify({dir.file("units/ltb-schedule.timer"), dir.file("units/ltb-schedule.service")});
  auto service = slurp(dir.file("units/ltb-schedule.service"));
  CHECK(service.find("ExecStart=/bin/true --state \"" + dir.file("my state/100%%.db") +
                     "\" schedule run --once") != std::string::npos);
  auto timer = slurp(dir.file("units/ltb-schedule.timer"));
  CHECK(timer.find("OnUnitActiveSec=5min") != std::string::npos);
  CHECK(timer.find("AccuracySec=1s") != std::string::npos);

  // A broken drop-in is caught: the check above can fail.
  dir.write("units/ltb-schedule.timer.d/50-next-event.conf",
            "[Timer]\nOnCalendar=2024-13-45 99:00:00 UTC\n");
  auto r = ltb::util::run({"systemd-analyze", "verify", dir.file("units/ltb-schedule.timer")});
  REQUIRE(r);
  CHECK_FALSE(r->err.empty());

  // No next event: no OnCalendar=, and the safety wake-up remains (an empty "OnCalendar=" would
  // clear every timer value, and systemd would refuse the timer).
  dir.write("units/ltb-schedule.timer.d/50-next-event.conf", ltb::schedule::dropin_text({}));
  verify({dir.file("units/ltb-schedule.timer"), dir.file("units/ltb-schedule.service")});
  CHECK(ltb::schedule::dropin_text({}).find("OnCalendar") == std::string::npos);

  auto cron = ltb::schedule::cron_text("/usr/bin/ltb", state);
  CHECK(cron.find("* * * * * root '/usr/bin/ltb' --state '" + dir.file("my state/100\\%.db") +
                  "' --quiet schedule run --once\n") != std::string::npos);
}

TEST_CASE("refresh_wakeup rewrites the drop-in to the next event, and only when it changes") {
  ltb::test::TempDir dir;
  auto store = ltb::state::Store::open(dir.file("state.db"));
  REQUIRE(store);
  auto &s = **store;

  // Nothing installed: nothing written.
  auto none = ltb::schedule::refresh_wakeup(s, 1000);
  REQUIRE(none);
  CHECK_FALSE(none->installed);

  ltb::schedule::Installation inst;
  inst.kind = "systemd";
  inst.root = dir.file("root");
  inst.unit_dir = dir.file("root/etc/systemd/system");
  inst.ltb_path = "/bin/true";
  REQUIRE(ltb::schedule::record_installation(s, inst));
  auto read_back = ltb::schedule::installation(s);
  REQUIRE(read_back);
  REQUIRE(*read_back);
  CHECK((*read_back)->unit_dir == inst.unit_dir);
  const auto dropin = ltb::schedule::dropin_path(inst);
  CHECK(dropin == dir.file("root/etc/systemd/system/ltb-schedule.timer.d/50-next-event.conf"));

  auto empty = ltb::schedule::refresh_wakeup(s, 1000);
  REQUIRE(empty);
  CHECK(empty->installed);
  CHECK(empty->changed);
  CHECK_FALSE(empty->next);
  CHECK(slurp(dropin) == ltb::schedule::dropin_text({}));

  REQUIRE(s.add_reservation(booking("a", 5000, 6000)));
  auto later = ltb::schedule::refresh_wakeup(s, 1000);
  REQUIRE(later);
  CHECK(later->changed);
  CHECK(later->next == Instant{5000});
  CHECK_FALSE(later->reloaded); // not the live units
  CHECK(slurp(dropin).find("OnCalendar=" + ltb::schedule::calendar_spec(5000)) !=
        std::string::npos);

  auto same = ltb::schedule::refresh_wakeup(s, 1001);
  REQUIRE(same);
  CHECK_FALSE(same->changed);

  // An earlier booking brings the wake-up forward.
  REQUIRE(s.add_reservation(booking("b", 3000, 4000)));
  auto sooner = ltb::schedule::refresh_wakeup(s, 1002);
  REQUIRE(sooner);
  CHECK(sooner->changed);
  CHECK(sooner->next == Instant{3000});
}

TEST_CASE("StoreBook: updates keep a user's concurrent change, holds survive reopening") {
  ltb::test::TempDir dir;
  const auto path = dir.file("state.db");
  std::int64_t id = 0;
  {
    auto store = ltb::state::Store::open(path);
    REQUIRE(store);
    auto added = (*store)->add_reservation(booking("lab1", 100, 200));
    REQUIRE(added);
    id = *added;
    ltb::schedule::StoreBook book(**store);
    auto rows = book.reservations();
    REQUIRE(rows);
    REQUIRE(rows->size() == 1);
    auto r = rows->front();
    // The user extends the reservation meanwhile; the scheduler's write keeps it.
    auto stored = (*store)->reservation(id);
    REQUIRE(stored);
    REQUIRE(*stored);
    auto extended = **stored;
    extended.end_at = 900;
    REQUIRE((*store)->put_reservation(extended));
    r.state = "active";
    auto written = book.update(r, "pending");
    REQUIRE(written);
    CHECK(*written);
    auto after = (*store)->reservation(id);
    REQUIRE(after);
    CHECK((*after)->state == "active");
    CHECK((*after)->end_at == 900);
    // Expected state no longer matches (the user cancelled): not written.
    r.state = "ended";
    auto refused = book.update(r, "pending");
    REQUIRE(refused);
    CHECK_FALSE(*refused);
    CHECK((*store)->reservation(id).value()->state == "active");

    REQUIRE(book.put_hold("lab1", ltb::schedule::Hold{id, 0, 0}));
    REQUIRE(book.put_hold("lab2", ltb::schedule::Hold{id + 1, 77, 2}));
    REQUIRE(book.put_hold("lab1", std::nullopt));
    auto labs = book.lab_recorded("lab1");
    REQUIRE(labs);
    CHECK_FALSE(*labs);
  }
  auto store = ltb::state::Store::open(path);
  REQUIRE(store);
  ltb::schedule::StoreBook book(**store);
  auto holds = book.holds();
  REQUIRE(holds);
  REQUIRE(holds->size() == 1);
  CHECK(holds->at("lab2").reservation == id + 1);
  CHECK(holds->at("lab2").retry_at == 77);
  CHECK(holds->at("lab2").attempts == 2);
}
