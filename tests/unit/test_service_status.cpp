// `ltb status` as data: the JSON the daemon answers GET /v1/labs[/LAB] with, read back by the
// client, must render what a direct run renders (the same JSON again, field for field).
#include "schedule/time.hpp"
#include "server/router.hpp"
#include "service/status.hpp"

#include <doctest/doctest.h>

using namespace ltb;

namespace {

state::ReservationRecord reservation(std::int64_t id, schedule::Instant end) {
  state::ReservationRecord out;
  out.id = id;
  out.state = "active";
  out.end_at = end;
  return out;
}

} // namespace

TEST_CASE("status JSON: a lab's status reads back as it was written") {
  service::LabStatus status;
  status.lab.name = "ospf-lab";
  status.lab.status = state::RecordStatus::running;
  status.lab.mgmt_subnet = "172.20.30.0/24";
  status.lab.mgmt_network = "ltb-alice__ospf-lab";
  status.lab.topology_file = "/run/ltb/req-1/cwd/ospf.yaml";
  status.lab.source = "/home/alice/labs/ospf.yaml";
  status.now = 1'800'000'000;
  status.drift = 1;
  status.reservation = reservation(7, status.now + 5400);
  state::NodeRecord r1;
  r1.name = "r1";
  r1.kind = "frr";
  r1.image = "ltb/frr:latest";
  r1.mgmt_ipv4 = "172.20.30.2";
  r1.runtime_id = "abc123";
  status.nodes.push_back({r1, "running"});
  state::NodeRecord sw;
  sw.name = "sw";
  sw.kind = "ovs-bridge";
  status.nodes.push_back({sw, "missing"});

  const auto json = service::status_json(status);
  CHECK(json.at("mgmt_network") == "ltb-alice__ospf-lab");
  CHECK(json.at("file") == "/run/ltb/req-1/cwd/ospf.yaml");
  CHECK(json.at("source") == "/home/alice/labs/ospf.yaml");
  CHECK(json.at("drift") == 1);
  CHECK(json.at("now") == "2027-01-15T08:00:00Z");
  CHECK(json.at("reservation").at("left_seconds") == 5400);
  auto back = service::lab_status_from_json(json);
  REQUIRE(back);
  CHECK(service::status_json(*back) == json);
  CHECK(back->lab.mgmt_network == status.lab.mgmt_network);
  CHECK(back->reservation->end_at == status.reservation->end_at);
  CHECK(back->nodes.at(1).state == "missing");

  // Without a reservation; a reservation already over (left 0, the instant still exact).
  status.reservation.reset();
  CHECK(service::status_json(*service::lab_status_from_json(service::status_json(status))) ==
        service::status_json(status));
  status.reservation = reservation(8, status.now - 60);
  back = service::lab_status_from_json(service::status_json(status));
  REQUIRE(back);
  CHECK(back->reservation->end_at == status.now - 60);
  CHECK(back->now == status.now);
}

TEST_CASE("status JSON: every lab reads back, hidden count included") {
  service::StatusOverview overview;
  overview.now = 1'800'000'000;
  overview.hidden = 3;
  service::LabSummary summary;
  summary.lab.name = "ospf-lab";
  summary.lab.owner = "alice";
  summary.lab.mgmt_subnet = "172.20.30.0/24";
  summary.lab.source = "template:ospf@2";
  summary.status = "degraded";
  summary.workloads = 4;
  summary.running = 3;
  summary.bridges = 1;
  summary.reservation = reservation(9, overview.now + 60);
  overview.labs.push_back(summary);
  summary.lab.name = "bgp";
  summary.lab.source.clear();
  summary.lab.topology_file = "/home/alice/bgp.yaml";
  summary.reservation.reset();
  overview.labs.push_back(summary);

  const auto json = service::status_json(overview);
  CHECK(json.at("hidden") == 3);
  auto back = service::overview_from_json(json);
  REQUIRE(back);
  CHECK(service::status_json(*back) == json);
  CHECK(back->hidden == 3);
  CHECK(back->labs.at(1).lab.topology_file == "/home/alice/bgp.yaml");
}

TEST_CASE("status JSON: an answer that is not a status is an error, not a crash") {
  for (const auto *text : {"null", "[]", "{}", R"({"labs":[{"name":1}],"hidden":0,"now":"x"})",
                           R"({"lab":"a","status":"sleeping","mgmt_subnet":"","mgmt_network":"",
                               "file":"","source":"","drift":0,"now":"2027-01-15T08:00:00Z",
                               "reservation":null,"nodes":[]})"}) {
    CAPTURE(text);
    const auto json = nlohmann::json::parse(text);
    auto lab = service::lab_status_from_json(json);
    REQUIRE_FALSE(lab);
    CHECK(lab.error().message == "the ltb daemon's answer is not a lab's status");
    CHECK_FALSE(service::overview_from_json(json));
  }
}

TEST_CASE("request targets: the query, percent-decoded") {
  auto none = server::query_params("/v1/labs");
  REQUIRE(none);
  CHECK(none->empty());
  auto some = server::query_params("/v1/labs?all=true&owner=b%C3%B6b&&x=a+b&flag");
  REQUIRE(some);
  CHECK(some->at("all") == "true");
  CHECK(some->at("owner") == "b\xC3\xB6"
                             "b");
  CHECK(some->at("x") == "a b");
  CHECK(some->at("flag").empty());
  CHECK(server::query_params("/v1/labs?owner=%G1") == std::nullopt);
  CHECK(server::query_params("/v1/labs?owner=%4") == std::nullopt);
}
