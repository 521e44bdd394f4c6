// Tests of the event model (lib/event/event), the state file's events table (pruning, reading
// after an id) and recording through the service (lib/service/events).

#include "event/event.hpp"
#include "service/events.hpp"
#include "state/store.hpp"
#include "testutil.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

using namespace ltb;

namespace {

event::Event died() {
  event::Event e;
  e.time_ns = 1796543474123456789; // 2026-12-06T07:51:14.123456Z
  e.lab = "lab1";
  e.type = event::Type::node;
  e.action = event::Action::died;
  e.object = "r1";
  e.attributes = {{"exit_code", "137"}, {"source", "docker"}};
  return e;
}

} // namespace

TEST_CASE("event: types and actions round-trip through their names") {
  for (auto type : {event::Type::node, event::Type::link, event::Type::impairment,
                    event::Type::capture, event::Type::reservation, event::Type::drift}) {
    CHECK(event::parse_type(event::to_string(type)) == type);
  }
  for (auto action :
       {event::Action::created, event::Action::started, event::Action::stopped, event::Action::died,
        event::Action::recreated, event::Action::removed, event::Action::up, event::Action::down,
        event::Action::changed, event::Action::ended, event::Action::seen}) {
    CHECK(event::parse_action(event::to_string(action)) == action);
  }
  CHECK_FALSE(event::parse_type("container"));
  CHECK_FALSE(event::parse_action("die"));
}

TEST_CASE("event: time is UTC with microseconds") {
  CHECK(event::format_time(1796543474123456789) == "2026-12-06T07:51:14.123456Z");
  CHECK(event::format_time(0) == "1970-01-01T00:00:00.000000Z");
}

TEST_CASE("event: plain line") {
  CHECK(event::format_plain(died()) ==
        "2026-12-06T07:51:14.123456Z lab1 node died r1 exit_code=137 source=docker");
  auto e = died();
  e.type = event::Type::drift;
  e.action = event::Action::seen;
  e.attributes = {{"reason", "container exited"}, {"odd", "a=\"b\""}, {"empty", ""}};
  CHECK(event::format_plain(e) == "2026-12-06T07:51:14.123456Z lab1 drift seen r1 empty=\"\" "
                                  "odd=\"a=\\\"b\\\"\" reason=\"container exited\"");
  e.lab.clear();
  e.object.clear();
  e.attributes.clear();
  CHECK(event::format_plain(e) == "2026-12-06T07:51:14.123456Z - drift seen -");
}

TEST_CASE("event: JSON line is one object with every field") {
  const auto line = event::format_json(died());
  CHECK(line.find('\n') == std::string::npos);
  CHECK(line == R"({"time":"2026-12-06T07:51:14.123456Z","time_ns":1796543474123456789,)"
                R"("lab":"lab1","type":"node","action":"died","object":"r1",)"
                R"("attributes":{"exit_code":"137","source":"docker"}})");
  auto e = died();
  e.object = "bad\xff name";
  auto j = nlohmann::json::parse(event::format_json(e)); // invalid UTF-8 is replaced, not thrown
  CHECK(j["object"].get<std::string>().find("name") != std::string::npos);
}

TEST_CASE("event: attributes as JSON text and back") {
  std::map<std::string, std::string> attributes{{"a", "1"}, {"b", "x y"}};
  CHECK(event::parse_attributes(event::attributes_json(attributes)) == attributes);
  CHECK(event::attributes_json({}) == "{}");
  CHECK(event::parse_attributes("not json").empty());
  CHECK(event::parse_attributes("[1,2]").empty());
  CHECK(event::parse_attributes(R"({"n":5})") == std::map<std::string, std::string>{{"n", "5"}});
}

TEST_CASE("state: events are read after an id, per lab, oldest first") {
  test::TempDir dir;
  auto store = state::Store::open(dir.file("state.db"));
  REQUIRE(store);
  CHECK((*store)->last_event_id() == 0);
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    state::EventRecord r;
    r.time_ns = i;
    r.lab = i % 2 == 0 ? "a" : "b";
    r.type = "node";
    r.action = "created";
    r.object = "n" + std::to_string(i);
    auto id = (*store)->add_event(r);
    REQUIRE(id);
    ids.push_back(*id);
  }
  CHECK((*store)->last_event_id() == ids.back());
  auto all = (*store)->events_after(ids[1]);
  REQUIRE(all);
  REQUIRE(all->size() == 3);
  CHECK(all->front().object == "n2");
  CHECK(all->back().object == "n4");
  auto of_a = (*store)->events_after(0, "a");
  REQUIRE(of_a);
  REQUIRE(of_a->size() == 3);
  CHECK(of_a->at(1).object == "n2");
  CHECK(of_a->at(1).attributes == "{}");
  auto limited = (*store)->events_after(0, "", 2);
  REQUIRE(limited);
  CHECK(limited->size() == 2);
}

TEST_CASE("state: adding an event prunes the oldest beyond the bound, ids are never reused") {
  test::TempDir dir;
  auto store = state::Store::open(dir.file("state.db"));
  REQUIRE(store);
  state::EventRecord r{0, 1, "a", "node", "died", "r1", "{}"};
  std::int64_t last = 0;
  for (int i = 0; i < 30; ++i) {
    auto id = (*store)->add_event(r, 10);
    REQUIRE(id);
    CHECK(*id > last);
    last = *id;
  }
  auto kept = (*store)->events_after(0);
  REQUIRE(kept);
  REQUIRE(kept->size() == 10);
  CHECK(kept->front().id == last - 9);
  // A fresh connection (another process) continues the ids even with old rows gone.
  auto again = state::Store::open(dir.file("state.db"));
  REQUIRE(again);
  auto id = (*again)->add_event(r, 10);
  REQUIRE(id);
  CHECK(*id == last + 1);
}

TEST_CASE("service: record_event stamps time and source, and reads back as the same event") {
  test::TempDir dir;
  auto store = state::Store::open(dir.file("state.db"));
  REQUIRE(store);
  auto e = died();
  e.time_ns = 0;
  e.attributes = {{"reason", "new"}};
  const auto before = event::now_ns();
  REQUIRE(service::record_event(**store, e));
  auto rows = (*store)->events_after(0);
  REQUIRE(rows);
  REQUIRE(rows->size() == 1);
  auto back = service::event_of(rows->front());
  REQUIRE(back);
  CHECK(back->time_ns >= before);
  CHECK(back->lab == "lab1");
  CHECK(back->type == event::Type::node);
  CHECK(back->action == event::Action::died);
  CHECK(back->object == "r1");
  CHECK(back->attributes ==
        std::map<std::string, std::string>{{"reason", "new"}, {"source", "ltb"}});
  // A row this ltb does not understand (written by a newer one) is no event.
  auto odd = rows->front();
  odd.type = "satellite";
  CHECK_FALSE(service::event_of(odd));
}

// --- Docker's stream ----------------------------------------------------------------------------

#include "fakes/fakes.hpp"
#include "plan/names.hpp"
#include "runtime/docker/docker_json.hpp"

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

namespace {

std::vector<runtime::ContainerEvent> recorded_docker_events() {
  std::ifstream in(std::string(LTB_TEST_DATA) + "/docker_events/recorded.jsonl");
  REQUIRE(in);
  std::vector<runtime::ContainerEvent> out;
  for (std::string line; std::getline(in, line);) {
    auto e = runtime::docker::parse_container_event(line);
    REQUIRE(e);
    out.push_back(*e);
  }
  return out;
}

runtime::ContainerEvent docker_event(const std::string &action, const std::string &id,
                                     const std::string &lab, const std::string &node) {
  runtime::ContainerEvent e;
  e.time_ns = event::now_ns();
  e.action = action;
  e.id = id;
  e.attributes = {{"ltb.lab", lab}, {"ltb.node", node}, {"name", "ltb-" + lab + "-" + node}};
  if (action == "die") {
    e.attributes["exitCode"] = "137";
  }
  return e;
}

} // namespace

TEST_CASE("docker events: recorded lines parse into container events") {
  auto events = recorded_docker_events();
  REQUIRE(events.size() == 7);
  const auto &die = events[4];
  CHECK(die.action == "die");
  CHECK(die.id == "e1e580cc3ce1c3471496f482d045c0d60264dd3b562b5c3ea1311df03a66f587");
  CHECK(die.time_ns == 1796543529095315812);
  CHECK(die.attributes.at("exitCode") == "137");
  CHECK(die.attributes.at("ltb.lab") == "ltbtest-benchssh");
  CHECK(die.attributes.at("ltb.node") == "n1");
  CHECK(die.attributes.at("name") == "ltb-ltbtest-benchssh-n1");
  CHECK(events[3].attributes.at("signal") == "9");
  CHECK(events[6].action.rfind("exec_create", 0) == 0);
  // Not a container's event, not JSON, no actor: nothing.
  CHECK_FALSE(runtime::docker::parse_container_event(
      R"({"Type":"network","Action":"create","Actor":{"ID":"x"}})"));
  CHECK_FALSE(runtime::docker::parse_container_event("{oops"));
  CHECK_FALSE(runtime::docker::parse_container_event(R"({"Type":"container","Action":"die"})"));
  // Old servers send seconds only.
  auto old = runtime::docker::parse_container_event(
      R"({"Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":{}},"time":5})");
  REQUIRE(old);
  CHECK(old->time_ns == 5000000000);
}

TEST_CASE("docker events: lines cut anywhere are put back together") {
  std::ifstream in(std::string(LTB_TEST_DATA) + "/docker_events/recorded.jsonl");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (std::size_t cut : {1UL, 7UL, 100UL, 4096UL}) {
    runtime::docker::LineSplitter splitter;
    std::vector<std::string> lines;
    for (std::size_t at = 0; at < all.size(); at += cut) {
      for (auto &line : splitter.feed(std::string_view(all).substr(at, cut))) {
        lines.push_back(line);
      }
    }
    CHECK(lines.size() == 7);
    CHECK(runtime::docker::parse_container_event(lines.back()));
  }
}

TEST_CASE("docker events: the filter asks for containers with the lab's label") {
  CHECK(runtime::docker::event_filters({{"ltb.lab", "lab1"}}) ==
        R"({"label":["ltb.lab=lab1"],"type":["container"]})");
  CHECK(runtime::docker::event_filters({{"ltb.lab", ""}}) ==
        R"({"label":["ltb.lab"],"type":["container"]})");
}

runtime::ContainerEvent kill_event(const std::string &id, const std::string &signal) {
  auto e = docker_event("kill", id, "l", "r1");
  e.attributes["signal"] = signal;
  return e;
}

TEST_CASE("docker events: start, die and stop become node started, died and stopped") {
  // Recorded from `docker kill`: create, start, ..., kill (signal 9), die, exec_create.
  auto recorded = recorded_docker_events();
  service::ContainerEventMapper mapper;
  std::vector<event::Event> out;
  const std::int64_t t = 1000;
  for (const auto &e : recorded) {
    for (auto &mapped : mapper.feed(e, t)) {
      out.push_back(mapped);
    }
  }
  // create, kill, destroy, attach and exec are no events; start is one; a death after SIGKILL
  // is one at once, held for nothing.
  REQUIRE(out.size() == 2);
  CHECK(out[0].action == event::Action::started);
  CHECK(out[0].lab == "ltbtest-benchssh");
  CHECK(out[0].object == "n1");
  CHECK(out[0].attributes.at("source") == "docker");
  CHECK_FALSE(mapper.holding());
  const auto &died = out[1];
  CHECK(died.action == event::Action::died);
  CHECK(died.attributes.at("exit_code") == "137");
  CHECK(died.time_ns == 1796543529095315812);
  CHECK(
      event::format_plain(died) ==
      "2026-12-06T07:52:09.095315Z ltbtest-benchssh node died n1 container=ltb-ltbtest-benchssh-n1 "
      "exit_code=137 source=docker");

  SUBCASE("a stop signal, a death and the stop are one 'stopped', however late the stop comes") {
    service::ContainerEventMapper m;
    CHECK(m.feed(kill_event("c1", "15"), 0).empty());
    CHECK(m.feed(docker_event("die", "c1", "l", "r1"), 10).empty());
    CHECK(m.holding());
    CHECK(m.due(10 + service::ContainerEventMapper::k_hold_ns - 1).empty());
    auto stopped = m.feed(docker_event("stop", "c1", "l", "r1"), 200'000'000);
    REQUIRE(stopped.size() == 1);
    CHECK(stopped[0].action == event::Action::stopped);
    CHECK(stopped[0].attributes.at("exit_code") == "137");
    CHECK_FALSE(m.holding());
  }
  SUBCASE("a stop whose grace period ended in SIGKILL is a stop too") {
    service::ContainerEventMapper m;
    CHECK(m.feed(kill_event("c1", "SIGTERM"), 0).empty());
    CHECK(m.feed(kill_event("c1", "9"), 10'000'000'000).empty());
    CHECK(m.feed(docker_event("die", "c1", "l", "r1"), 10'000'000'001).empty());
    auto stopped = m.feed(docker_event("stop", "c1", "l", "r1"), 10'000'000'002);
    REQUIRE(stopped.size() == 1);
    CHECK(stopped[0].action == event::Action::stopped);
  }
  SUBCASE("a stop signal with no stop after the death is a death, after the hold") {
    service::ContainerEventMapper m;
    CHECK(m.feed(kill_event("c1", "15"), 0).empty());
    CHECK(m.feed(docker_event("die", "c1", "l", "r1"), 0).empty());
    auto other = m.feed(docker_event("stop", "c2", "l", "r2"), 5); // another container's
    REQUIRE(other.size() == 1);
    CHECK(other[0].object == "r2");
    auto late = m.due(service::ContainerEventMapper::k_hold_ns);
    REQUIRE(late.size() == 1);
    CHECK(late[0].object == "r1");
    CHECK(late[0].action == event::Action::died);
  }
  SUBCASE("a death without a stop signal, or long after one, shows at once") {
    service::ContainerEventMapper m;
    auto crashed = m.feed(docker_event("die", "c1", "l", "r1"), 0);
    REQUIRE(crashed.size() == 1);
    CHECK(crashed[0].action == event::Action::died);
    CHECK(m.feed(kill_event("c2", "15"), 0).empty());
    auto much_later = m.feed(docker_event("die", "c2", "l", "r1"),
                             service::ContainerEventMapper::k_stopping_ns + 1);
    REQUIRE(much_later.size() == 1);
    CHECK(much_later[0].action == event::Action::died);
    // A start forgets a stop signal that ended nothing.
    CHECK(m.feed(kill_event("c3", "15"), 0).empty());
    CHECK(m.feed(docker_event("start", "c3", "l", "r1"), 1).size() == 1);
    CHECK(m.feed(docker_event("die", "c3", "l", "r1"), 2).size() == 1);
  }
  SUBCASE("containers without ltb's labels are not events") {
    service::ContainerEventMapper m;
    runtime::ContainerEvent e = docker_event("start", "c9", "l", "x");
    e.attributes.erase("ltb.node");
    CHECK(m.feed(e, 0).empty());
  }
}

TEST_CASE("events: one thing reported by two sources shows once") {
  service::Deduplicator dedup;
  auto docker = died();
  docker.action = event::Action::stopped;
  auto ltb_record = docker;
  ltb_record.attributes["source"] = "ltb";
  CHECK(dedup.pass(docker, 0));
  CHECK_FALSE(dedup.pass(ltb_record, 1'000'000'000));
  // The same source twice is two events (a node stopped, started and stopped again).
  CHECK(dedup.pass(docker, 1'100'000'000));
  // After the window, another source's report shows again.
  CHECK(dedup.pass(ltb_record, 1'100'000'000 + service::Deduplicator::k_window_ns + 1));
}

TEST_CASE("events: ltb's actions of a plan") {
  plan::Plan p;
  p.lab = "l";
  p.actions.push_back(
      {plan::ActionKind::create_node, "r1", {}, "ltb-l-r1", plan::Reason::new_object, {}});
  p.actions.push_back({plan::ActionKind::remove_node,
                       "r2",
                       {},
                       "ltb-l-r2",
                       plan::Why(plan::Reason::not_running, state::ObjectType::container, "exited"),
                       {}});
  p.actions.push_back({plan::ActionKind::create_node,
                       "r2",
                       {},
                       "ltb-l-r2",
                       plan::Why(plan::Reason::not_running, state::ObjectType::container, "exited"),
                       {}});
  p.actions.push_back(
      {plan::ActionKind::remove_vm, "v1", {}, "ltb-l-v1", plan::Reason::removed_from_file, {}});
  p.actions.push_back({plan::ActionKind::wire_links, "", {"k"}, "", plan::Reason::new_object, {}});
  p.actions.push_back({plan::ActionKind::create_node,
                       "r3",
                       {},
                       "ltb-l-r3",
                       plan::Why(plan::Reason::missing, state::ObjectType::container),
                       {}});

  auto created = service::action_event(p, p.actions[0]);
  REQUIRE(created);
  CHECK(created->action == event::Action::created);
  CHECK(created->object == "r1");
  CHECK(created->attributes.at("reason") == "new");
  CHECK_FALSE(service::action_event(p, p.actions[1])); // the creation says "recreated"
  auto recreated = service::action_event(p, p.actions[2]);
  REQUIRE(recreated);
  CHECK(recreated->action == event::Action::recreated);
  CHECK(recreated->attributes.at("reason") == "container exited");
  auto removed = service::action_event(p, p.actions[3]);
  REQUIRE(removed);
  CHECK(removed->action == event::Action::removed);
  CHECK(removed->attributes.at("reason") == "removed from the file");
  CHECK_FALSE(service::action_event(p, p.actions[4]));

  auto drift = service::drift_events(p);
  REQUIRE(drift.size() == 2);
  CHECK(drift[0].type == event::Type::drift);
  CHECK(drift[0].action == event::Action::seen);
  CHECK(drift[0].object == "r2");
  CHECK(drift[0].attributes.at("reason") == "container exited");
  CHECK(drift[1].object == "r3");
  CHECK(drift[1].attributes.at("reason") == "container missing (removed outside ltb)");
}

namespace {

/// follow_events() on a thread, collecting what it emits until stopped.
struct Follower {
  service::CancelToken cancel;
  service::NullSink sink;
  service::Context context;
  service::Caller caller{0, "tester", true, {}};
  std::mutex mutex;
  std::vector<event::Event> seen;
  std::atomic<bool> ready{false};
  Status result;
  std::thread thread;

  Follower(const std::string &state_path, service::FollowSources sources,
           service::FollowRequest request)
      : context{state_path, 1} {
    thread = std::thread([this, sources, request]() mutable {
      service::Session session{context, caller, cancel, sink};
      result = service::follow_events(
          session, request, sources,
          [this](const event::Event &e) {
            std::lock_guard lock(mutex);
            seen.push_back(e);
            return true;
          },
          [this] { ready = true; });
    });
    while (!ready.load()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  /// Waits (bounded, 10 s) until `n` events were emitted; the events so far.
  std::vector<event::Event> wait_for(std::size_t n) {
    for (int i = 0; i < 10000; ++i) {
      {
        std::lock_guard lock(mutex);
        if (seen.size() >= n) {
          return seen;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::lock_guard lock(mutex);
    return seen;
  }
  void stop() {
    cancel.cancel();
    thread.join();
  }
};

} // namespace

TEST_CASE("events: the follow loop streams ltb's records from other processes and Docker's") {
  test::TempDir dir;
  const auto path = dir.file("state.db");
  auto writer = state::Store::open(path); // another process, as far as the follower knows
  REQUIRE(writer);
  auto older = died();
  older.action = event::Action::created;
  older.object = "old";
  REQUIRE(service::record_event(**writer, older)); // before the follower: not shown

  auto reader = state::Store::open(path);
  REQUIRE(reader);
  fakes::FakeContainerEvents docker;
  service::FollowSources sources;
  sources.store = reader->get();
  sources.docker = &docker;
  const auto before = event::now_ns();
  Follower follower(path, sources, {"lab1", false, 5});

  auto capture = died();
  capture.time_ns = 0;
  capture.type = event::Type::capture;
  capture.action = event::Action::started;
  capture.object = "r1-r2";
  REQUIRE(service::record_event(**writer, capture));
  auto other_lab = capture;
  other_lab.lab = "lab2";
  REQUIRE(service::record_event(**writer, other_lab)); // another lab: not shown
  auto seen = follower.wait_for(1);
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].type == event::Type::capture);
  CHECK(seen[0].object == "r1-r2");

  docker.push(docker_event("die", "c1", "lab1", "r1"));
  docker.push(docker_event("die", "c2", "lab2", "r1")); // another lab: filtered by Docker
  seen = follower.wait_for(2);
  REQUIRE(seen.size() == 2);
  CHECK(seen[1].action == event::Action::died);
  CHECK(seen[1].object == "r1");
  CHECK(seen[1].attributes.at("source") == "docker");

  // Docker's stopped and ltb's record of the same stop: one line.
  docker.push(docker_event("stop", "c1", "lab1", "r1"));
  seen = follower.wait_for(3);
  auto stopped = died();
  stopped.time_ns = 0;
  stopped.action = event::Action::stopped;
  stopped.attributes.clear(); // recorded by ltb (source "ltb")
  REQUIRE(service::record_event(**writer, stopped));
  auto removed = stopped;
  removed.action = event::Action::removed;
  REQUIRE(service::record_event(**writer, removed));
  seen = follower.wait_for(4);
  follower.stop();
  CHECK(follower.result);
  REQUIRE(seen.size() == 4);
  CHECK(seen[2].action == event::Action::stopped);
  CHECK(seen[3].action == event::Action::removed);
  REQUIRE_FALSE(docker.sinces.empty());
  CHECK(docker.sinces.front() >= before);
}

TEST_CASE("events: Docker's events out of time order are all shown, each once") {
  test::TempDir dir;
  const auto path = dir.file("state.db");
  auto store = state::Store::open(path);
  REQUIRE(store);
  fakes::FakeContainerEvents docker;
  service::FollowSources sources;
  sources.store = store->get();
  sources.docker = &docker;
  Follower follower(path, sources, {"lab1", false, 5});
  // Two containers started at once: Docker delivered the later start first (seen in CI).
  auto a = docker_event("start", "ca", "lab1", "a");
  auto b = docker_event("start", "cb", "lab1", "b");
  b.time_ns = a.time_ns + 200'000;
  docker.push(b);
  docker.push(a);
  docker.push(a); // the same event again (a replay after a reconnection): once
  auto seen = follower.wait_for(2);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  follower.stop();
  std::lock_guard lock(follower.mutex);
  REQUIRE(follower.seen.size() == 2);
  CHECK(follower.seen[0].object == "b");
  CHECK(follower.seen[1].object == "a");
}

TEST_CASE("events: a container's death while ltb removes its lab is ltb's doing, not shown") {
  test::TempDir dir;
  const auto path = dir.file("state.db");
  auto store = state::Store::open(path);
  REQUIRE(store);
  state::LabRecord lab;
  lab.name = "lab1";
  lab.status = state::RecordStatus::removing;
  REQUIRE((*store)->put_lab(lab));
  fakes::FakeContainerEvents docker;
  service::FollowSources sources;
  sources.store = store->get();
  sources.docker = &docker;
  Follower follower(path, sources, {"lab1", false, 5});
  docker.push(docker_event("die", "c1", "lab1", "r1"));
  docker.push(docker_event("start", "c1", "lab1", "r2"));
  // The start shows, and the death before it (handled first, from the same stream) does not.
  auto seen = follower.wait_for(1);
  lab.status = state::RecordStatus::running;
  REQUIRE((*store)->put_lab(lab));
  docker.push(docker_event("die", "c3", "lab1", "r3"));
  seen = follower.wait_for(2);
  follower.stop();
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].action == event::Action::started);
  CHECK(seen[1].action == event::Action::died);
  CHECK(seen[1].object == "r3");
}

TEST_CASE("events: a broken Docker stream is watched again from its last event") {
  test::TempDir dir;
  const auto path = dir.file("state.db");
  auto store = state::Store::open(path);
  REQUIRE(store);
  state::LabRecord lab;
  lab.name = "lab1";
  lab.status = state::RecordStatus::running;
  REQUIRE((*store)->put_lab(lab));
  fakes::FakeContainerEvents docker;
  docker.breaks = 1;
  service::FollowSources sources;
  sources.store = store->get();
  sources.docker = &docker;
  Follower follower(path, sources, {"", false, 5});
  // Every lab is every lab of this state file: another state file's lab does not show.
  docker.push(docker_event("start", "c9", "elsewhere", "r1"));
  docker.push(docker_event("start", "c1", "lab1", "r1"));
  auto seen = follower.wait_for(1);
  follower.stop();
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].lab == "lab1");
  CHECK(docker.sinces.size() == 2);
}

namespace {

runtime::VmEvent vm(const std::string &event, const std::string &detail, const std::string &lab,
                    const std::string &node) {
  runtime::VmEvent e;
  e.time_ns = event::now_ns();
  e.name = "ltb-" + lab + "-" + node;
  e.event = event;
  e.detail = detail;
  e.metadata = {{"ltb.lab", lab}, {"ltb.node", node}};
  return e;
}

} // namespace

TEST_CASE("libvirt events: a VM's start, shutdown, destroy and crash as node events") {
  auto started = service::vm_event(vm("started", "booted", "l", "v1"));
  REQUIRE(started);
  CHECK(started->action == event::Action::started);
  CHECK(started->lab == "l");
  CHECK(started->object == "v1");
  CHECK(started->attributes.at("source") == "libvirt");
  CHECK(started->attributes.at("domain") == "ltb-l-v1");
  CHECK(started->attributes.at("detail") == "booted");
  CHECK(service::vm_event(vm("stopped", "shutdown", "l", "v1"))->action == event::Action::stopped);
  CHECK(service::vm_event(vm("stopped", "destroyed", "l", "v1"))->action == event::Action::stopped);
  CHECK(service::vm_event(vm("stopped", "failed", "l", "v1"))->action == event::Action::died);
  CHECK(service::vm_event(vm("stopped", "crashed", "l", "v1"))->action == event::Action::died);
  CHECK(service::vm_event(vm("crashed", "panicked", "l", "v1"))->action == event::Action::died);
  // A shutdown begun, a suspension, a definition: the stop that follows says it, or nothing does.
  CHECK_FALSE(service::vm_event(vm("shutdown", "finished", "l", "v1")));
  CHECK_FALSE(service::vm_event(vm("suspended", "", "l", "v1")));
  CHECK_FALSE(service::vm_event(vm("undefined", "", "l", "v1")));
  auto foreign = vm("started", "booted", "l", "v1");
  foreign.metadata.erase("ltb.node");
  CHECK_FALSE(service::vm_event(foreign));
}

TEST_CASE("events: the follow loop streams libvirt's VM events; ltb's record of the same is one") {
  test::TempDir dir;
  const auto path = dir.file("state.db");
  auto store = state::Store::open(path);
  REQUIRE(store);
  fakes::FakeVmEvents libvirt;
  libvirt.breaks = 1; // a broken connection is watched again
  service::FollowSources sources;
  sources.store = store->get();
  sources.libvirt = &libvirt;
  Follower follower(path, sources, {"lab1", false, 5});
  libvirt.push(vm("started", "booted", "lab1", "v1"));
  libvirt.push(vm("started", "booted", "lab2", "v1")); // another lab
  libvirt.push(vm("stopped", "failed", "lab1", "v1"));
  auto seen = follower.wait_for(2);
  event::Event stopped;
  stopped.lab = "lab1";
  stopped.action = event::Action::died;
  stopped.object = "v1";
  REQUIRE(service::record_event(**store, stopped)); // ltb's report of the same: not again
  stopped.action = event::Action::removed;
  REQUIRE(service::record_event(**store, stopped));
  seen = follower.wait_for(3);
  follower.stop();
  CHECK(follower.result);
  REQUIRE(seen.size() == 3);
  CHECK(seen[0].action == event::Action::started);
  CHECK(seen[0].attributes.at("source") == "libvirt");
  CHECK(seen[1].action == event::Action::died);
  CHECK(seen[1].attributes.at("detail") == "failed");
  CHECK(seen[2].action == event::Action::removed);
  CHECK(libvirt.watches == 2);
}

namespace {

net::CarrierReport carrier(const std::string &netns, const std::string &ifname, bool up) {
  return {netns, ifname, up};
}

std::map<std::pair<std::string, std::string>, service::LinkEnd> r1_r2_ends() {
  return {{{"lab1/r1", "eth1"}, {"lab1", "r1-r2", "r1", "eth1"}},
          {{"lab1/r2", "eth1"}, {"lab1", "r1-r2", "r2", "eth1"}}};
}

} // namespace

TEST_CASE("netlink events: a link's carrier transitions as link down and up, once each") {
  service::LinkEventMapper mapper;
  mapper.set_ends(r1_r2_ends());
  // The first word of each end is the state then: no event.
  CHECK_FALSE(mapper.feed(carrier("lab1/r1", "eth1", true), 1));
  CHECK_FALSE(mapper.feed(carrier("lab1/r2", "eth1", true), 2));
  // Other interfaces, other namespaces: not a link's.
  CHECK_FALSE(mapper.feed(carrier("lab1/r1", "eth9", false), 3));
  CHECK_FALSE(mapper.feed(carrier("lab1/r3", "eth1", false), 3));
  // Another flag changed (the carrier did not): no event.
  CHECK_FALSE(mapper.feed(carrier("lab1/r1", "eth1", true), 4));

  // `ip link set eth1 down` in r1: r1's eth1 first, then its peer loses carrier: one event.
  auto down = mapper.feed(carrier("lab1/r1", "eth1", false), 5);
  REQUIRE(down);
  CHECK(down->lab == "lab1");
  CHECK(down->type == event::Type::link);
  CHECK(down->action == event::Action::down);
  CHECK(down->object == "r1-r2");
  CHECK(down->time_ns == 5);
  CHECK(down->attributes == std::map<std::string, std::string>{
                                {"node", "r1"}, {"iface", "eth1"}, {"source", "netlink"}});
  CHECK_FALSE(mapper.feed(carrier("lab1/r2", "eth1", false), 6));
  CHECK_FALSE(mapper.feed(carrier("lab1/r2", "eth1", false), 7));

  // Up again: the link is up once both ends have carrier.
  CHECK_FALSE(mapper.feed(carrier("lab1/r1", "eth1", true), 8));
  auto up = mapper.feed(carrier("lab1/r2", "eth1", true), 9);
  REQUIRE(up);
  CHECK(up->action == event::Action::up);
  CHECK(up->object == "r1-r2");
  CHECK(up->attributes.at("node") == "r2");

  // New ends (a node started again) keep what was seen of the ends that stay.
  auto ends = r1_r2_ends();
  ends[{"lab1/r3", "eth1"}] = {"lab1", "r3-r4", "r3", "eth1"};
  mapper.set_ends(ends);
  auto again = mapper.feed(carrier("lab1/r2", "eth1", false), 10);
  REQUIRE(again);
  CHECK(again->action == event::Action::down);
  CHECK_FALSE(mapper.feed(carrier("lab1/r3", "eth1", false), 11)); // its first word
}

namespace {

/// A lab "lab1" with running containers r1 and r2 (fake Docker) and the link r1:eth1 -- r2:eth1.
void deploy_r1_r2(state::Store &store, fakes::FakeDocker &docker) {
  state::LabRecord lab;
  lab.name = "lab1";
  lab.status = state::RecordStatus::running;
  REQUIRE(store.put_lab(lab));
  for (const char *name : {"r1", "r2"}) {
    state::NodeRecord node;
    node.lab = "lab1";
    node.name = name;
    node.kind = "linux";
    node.runtime = state::k_runtime_container;
    node.status = state::RecordStatus::running;
    REQUIRE(store.put_node(node));
    runtime::ContainerSpec spec;
    spec.name = plan::container_name("lab1", name);
    spec.image = "ltb/busybox:latest";
    auto id = docker.create_container(spec);
    REQUIRE(id);
    REQUIRE(docker.start_container(*id));
  }
  state::LinkRecord link;
  link.lab = "lab1";
  link.key = "r1:eth1--r2:eth1";
  link.name = "r1-r2";
  link.a_node = "r1";
  link.a_iface = "eth1";
  link.b_node = "r2";
  link.b_iface = "eth1";
  link.status = state::RecordStatus::up;
  REQUIRE(store.put_link(link));
}

} // namespace

TEST_CASE("events: the follow loop watches the nodes' namespaces for link carrier") {
  test::TempDir dir;
  const auto path = dir.file("state.db");
  auto store = state::Store::open(path);
  REQUIRE(store);
  auto writer = state::Store::open(path);
  REQUIRE(writer);
  fakes::World world;
  fakes::FakeDocker docker{world};
  deploy_r1_r2(**store, docker);

  auto watch = service::link_watch(**store, docker, "lab1");
  REQUIRE(watch);
  REQUIRE(watch->namespaces.size() == 2);
  CHECK(watch->namespaces[0].key == "lab1/r1");
  CHECK(watch->namespaces[0].pid > 0);
  CHECK(watch->ends.size() == 2);
  CHECK(watch->ends.at({"lab1/r2", "eth1"}).link == "r1-r2");

  // A VM's end is its tap in the host's namespace.
  state::NodeRecord vm;
  vm.lab = "lab1";
  vm.name = "v1";
  vm.kind = "vm";
  vm.runtime = state::k_runtime_vm;
  REQUIRE((*store)->put_node(vm));
  state::LinkRecord to_vm;
  to_vm.lab = "lab1";
  to_vm.key = "r1:eth2--v1:eth1";
  to_vm.name = "r1-v1";
  to_vm.a_node = "r1";
  to_vm.a_iface = "eth2";
  to_vm.b_node = "v1";
  to_vm.b_iface = "eth1";
  REQUIRE((*store)->put_link(to_vm));
  auto with_vm = service::link_watch(**store, docker, "lab1");
  REQUIRE(with_vm);
  REQUIRE(with_vm->namespaces.size() == 3);
  CHECK(with_vm->namespaces[2] == net::WatchedNetns{"host", 0});
  const auto tap = plan::host_veth_name("lab1", to_vm.key, "v1");
  REQUIRE(with_vm->ends.count({"host", tap}));
  CHECK(with_vm->ends.at({"host", tap}) == service::LinkEnd{"lab1", "r1-v1", "v1", "eth1"});
  CHECK(with_vm->ends.at({"lab1/r1", "eth2"}).link == "r1-v1");
  REQUIRE((*store)->delete_link("lab1", to_vm.key));
  REQUIRE((*store)->delete_node("lab1", "v1"));

  fakes::FakeLinkEvents netlink;
  netlink.set("lab1/r1", "eth1", true);
  netlink.set("lab1/r2", "eth1", true);
  netlink.set("lab1/r1", "eth0", true);
  service::FollowSources sources;
  sources.store = store->get();
  sources.netlink = &netlink;
  sources.containers = &docker;
  Follower follower(path, sources, {"lab1", false, 5});
  REQUIRE(netlink.watches().size() == 1);
  CHECK(netlink.watches()[0] == watch->namespaces);

  netlink.set("lab1/r1", "eth0", false); // the management interface: no link's
  netlink.set("lab1/r2", "eth1", false);
  netlink.set("lab1/r1", "eth1", false);
  auto seen = follower.wait_for(1);
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].action == event::Action::down);
  CHECK(seen[0].object == "r1-r2");
  CHECK(seen[0].attributes.at("node") == "r2");
  CHECK(seen[0].attributes.at("source") == "netlink");

  // `ltb link up`: ltb's record and netlink's report of the same show once.
  event::Event up;
  up.lab = "lab1";
  up.type = event::Type::link;
  up.action = event::Action::up;
  up.object = "r1-r2";
  REQUIRE(service::record_event(**writer, up));
  seen = follower.wait_for(2);
  netlink.set("lab1/r1", "eth1", true);
  netlink.set("lab1/r2", "eth1", true);
  // Something after it to wait for: a capture started, recorded by ltb.
  event::Event capture = up;
  capture.type = event::Type::capture;
  capture.action = event::Action::started;
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  REQUIRE(service::record_event(**writer, capture));
  seen = follower.wait_for(3);
  follower.stop();
  CHECK(follower.result);
  REQUIRE(seen.size() == 3);
  CHECK(seen[1].action == event::Action::up);
  CHECK(seen[1].attributes.at("source") == "ltb");
  CHECK(seen[2].type == event::Type::capture);
}
