// The host firewall of confined labs: the rules and the iptables-restore input built from a
// listing (net/host_firewall), the plan (made before the nodes, again when missing, removed with
// the lab, found without state) and plan -> apply -> record on the fakes.
#include "fakes/harness.hpp"
#include "net/host_firewall.hpp"

#include <algorithm>
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <string>

using namespace ltb;
using fakes::Harness;
using net::IpFamily;
using plan::ActionKind;

namespace {

std::string joined(const std::vector<std::string> &words) {
  return fmt::format("{}", fmt::join(words, " "));
}

std::vector<std::string> joined_rules(const std::vector<std::vector<std::string>> &rules) {
  std::vector<std::string> out;
  for (const auto &rule : rules) {
    out.push_back(joined(rule));
  }
  return out;
}

/// `iptables -S` as iptables-nft 1.8.9 prints it on a host where Docker runs, with the lab's
/// rules (and another lab's) installed by ltb.
const char *k_listing = R"(-P INPUT ACCEPT
-P FORWARD DROP
-P OUTPUT ACCEPT
-N DOCKER
-N DOCKER-USER
-N LTB-INPUT
-A INPUT -j LTB-INPUT
-A FORWARD -j DOCKER-USER
-A FORWARD -i lmb880c1 -o lmb880c1 -j ACCEPT
-A DOCKER-USER -j RETURN
-A LTB-INPUT -i lm111111 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "ltb:alice__lab" -j ACCEPT
-A LTB-INPUT -i lm111111 -p udp -m udp --dport 67 -m comment --comment "ltb:alice__lab:dhcp" -j ACCEPT
-A LTB-INPUT -i lm111111 -p tcp -m comment --comment "ltb:alice__lab" -j REJECT --reject-with tcp-reset
-A LTB-INPUT -i lm222222 -m conntrack --ctstate RELATED,ESTABLISHED -m comment --comment "ltb:alice__lab2" -j ACCEPT
-A LTB-INPUT -i lm222222 -m comment --comment "ltb:alice__lab2" -j REJECT --reject-with icmp-admin-prohibited
)";

/// The listing of a family once `rules` of SPEC are installed (words as iptables prints them).
std::string listing_of(const net::HostFirewallSpec &spec, IpFamily family, bool jump = true) {
  std::string out = "-P INPUT ACCEPT\n-N LTB-INPUT\n";
  if (jump) {
    out += "-A INPUT -j LTB-INPUT\n";
  }
  for (const auto &rule : net::host_firewall_rules(spec, family)) {
    std::string line = "-A LTB-INPUT";
    for (const auto &word : rule) {
      line += word.rfind("ltb:", 0) == 0 ? " \"" + word + "\"" : " " + word;
    }
    out += line + "\n";
  }
  return out;
}

topology::Topology confined_lab(bool vm = false) {
  auto t = fakes::make_lab("alice__web");
  t.confined = true;
  t.nodes = {fakes::container_node("h1"), fakes::container_node("h2")};
  if (vm) {
    t.nodes.push_back(fakes::vm_node("v1"));
  }
  for (auto &node : t.nodes) {
    node.confined = true;
  }
  t.links = {fakes::make_link("h1", "eth1", "h2", "eth1")};
  return t;
}

std::size_t index_of(const plan::Plan &p, ActionKind kind) {
  for (std::size_t i = 0; i < p.actions.size(); ++i) {
    if (p.actions[i].kind == kind) {
      return i;
    }
  }
  FAIL("no such action in the plan:\n" << fakes::describe_plan(p));
  return 0;
}

std::size_t count(const plan::Plan &p, ActionKind kind) {
  return std::count_if(p.actions.begin(), p.actions.end(),
                       [&](const auto &action) { return action.kind == kind; });
}

bool depends_on(const plan::Action &action, std::size_t index) {
  return std::find(action.deps.begin(), action.deps.end(), index) != action.deps.end();
}

} // namespace

TEST_CASE("host firewall: the rules of a lab, per family") {
  net::HostFirewallSpec spec{"alice__web", "lmabcdef", false};
  CHECK(net::host_firewall_comment(spec) == "ltb:alice__web");
  const auto tag = "-m comment --comment ltb:alice__web";
  CHECK(joined_rules(net::host_firewall_rules(spec, IpFamily::v4)) ==
        std::vector<std::string>{
            fmt::format("-i lmabcdef -m conntrack --ctstate RELATED,ESTABLISHED {} -j ACCEPT", tag),
            fmt::format("-i lmabcdef -p tcp {} -j REJECT --reject-with tcp-reset", tag),
            fmt::format("-i lmabcdef {} -j REJECT --reject-with icmp-admin-prohibited", tag)});
  CHECK(joined_rules(net::host_firewall_rules(spec, IpFamily::v6)) ==
        std::vector<std::string>{
            fmt::format("-i lmabcdef -m conntrack --ctstate RELATED,ESTABLISHED {} -j ACCEPT", tag),
            fmt::format("-i lmabcdef -p ipv6-icmp -m icmp6 --icmpv6-type neighbour-solicitation "
                        "{} -j ACCEPT",
                        tag),
            fmt::format("-i lmabcdef -p ipv6-icmp -m icmp6 --icmpv6-type "
                        "neighbour-advertisement {} -j ACCEPT",
                        tag),
            fmt::format("-i lmabcdef -p tcp {} -j REJECT --reject-with tcp-reset", tag),
            fmt::format("-i lmabcdef {} -j REJECT --reject-with icmp6-adm-prohibited", tag)});

  // DHCP to ltb's dnsmasq passes (IPv4 only), before the refusals; the tag says so.
  spec.dhcp = true;
  const auto dhcp_tag = "-m comment --comment ltb:alice__web:dhcp";
  auto v4 = joined_rules(net::host_firewall_rules(spec, IpFamily::v4));
  REQUIRE(v4.size() == 4);
  CHECK(v4[1] == fmt::format("-i lmabcdef -p udp -m udp --dport 67 {} -j ACCEPT", dhcp_tag));
  CHECK(v4[3].find("REJECT") != std::string::npos);
  CHECK(net::host_firewall_rules(spec, IpFamily::v6).size() == 5);

  // The lab's link interfaces in the host namespace: everything from them dropped, last.
  spec.links = {"lvabcdef+", "lbabcdef+"};
  for (auto family : {IpFamily::v4, IpFamily::v6}) {
    auto rules = joined_rules(net::host_firewall_rules(spec, family));
    REQUIRE(rules.size() == (family == IpFamily::v4 ? 6 : 7));
    CHECK(rules[rules.size() - 2] == fmt::format("-i lvabcdef+ {} -j DROP", dhcp_tag));
    CHECK(rules.back() == fmt::format("-i lbabcdef+ {} -j DROP", dhcp_tag));
  }
}

TEST_CASE("host firewall: a listing gives the lab's rules, not another lab's of a longer name") {
  auto listing = net::parse_firewall_listing(k_listing, "alice__lab");
  CHECK(listing.chain);
  CHECK(listing.jumps == 1);
  REQUIRE(listing.lab_rules.size() == 3);
  CHECK(listing.other_rules == 2);
  CHECK(joined(listing.lab_rules[1]) ==
        "-i lm111111 -p udp -m udp --dport 67 -m comment --comment ltb:alice__lab:dhcp -j ACCEPT");
  CHECK(listing.comments ==
        std::vector<std::string>{"ltb:alice__lab", "ltb:alice__lab:dhcp", "ltb:alice__lab"});

  auto none = net::parse_firewall_listing("-P INPUT ACCEPT\n-N DOCKER\n", "alice__lab");
  CHECK_FALSE(none.chain);
  CHECK(none.jumps == 0);
  CHECK(none.lab_rules.empty());
}

TEST_CASE("host firewall: the state says complete only for every rule of one spec, reached") {
  net::HostFirewallSpec spec{"bob__x", "lm123456", true, {"lv123456+", "lb123456+"}};
  auto v4 = net::parse_firewall_listing(listing_of(spec, IpFamily::v4), spec.lab);
  auto v6 = net::parse_firewall_listing(listing_of(spec, IpFamily::v6), spec.lab);
  auto state = net::host_firewall_state(v4, v6);
  CHECK(state.present);
  CHECK(state.complete);
  CHECK(state.spec == spec);

  // One rule removed by hand.
  auto partial = v6;
  partial.lab_rules.pop_back();
  partial.comments.pop_back();
  state = net::host_firewall_state(v4, partial);
  CHECK(state.present);
  CHECK_FALSE(state.complete);

  // Rules that INPUT does not reach do nothing.
  auto unreached = net::parse_firewall_listing(listing_of(spec, IpFamily::v4, false), spec.lab);
  CHECK_FALSE(net::host_firewall_state(unreached, v6).complete);

  // A rule's target changed by hand.
  auto edited = v4;
  edited.lab_rules.back().back() = "ACCEPT";
  CHECK_FALSE(net::host_firewall_state(edited, v6).complete);

  // The rules of another spec (without DHCP or links) are read as that spec.
  net::HostFirewallSpec plain{"bob__x", "lm123456", false};
  auto p4 = net::parse_firewall_listing(listing_of(plain, IpFamily::v4), spec.lab);
  auto p6 = net::parse_firewall_listing(listing_of(plain, IpFamily::v6), spec.lab);
  state = net::host_firewall_state(p4, p6);
  CHECK(state.complete);
  CHECK_FALSE(state.spec.dhcp);
  CHECK(state.spec.links.empty());

  // Nothing of the lab.
  auto empty = net::parse_firewall_listing("-P INPUT ACCEPT\n", spec.lab);
  CHECK_FALSE(net::host_firewall_state(empty, empty).present);
}

TEST_CASE("host firewall: one iptables-restore transaction makes, replaces and removes rules") {
  net::HostFirewallSpec spec{"alice__lab", "lm111111", false};
  // A fresh host: the chain, the jump first in INPUT, then the rules.
  auto fresh = net::parse_firewall_listing("-P INPUT ACCEPT\n-N DOCKER\n", spec.lab);
  auto text = net::host_firewall_restore(fresh, spec, IpFamily::v4, false);
  CHECK(text == "*filter\n"
                "-N LTB-INPUT\n"
                "-I INPUT 1 -j LTB-INPUT\n"
                "-A LTB-INPUT -i lm111111 -m conntrack --ctstate RELATED,ESTABLISHED -m comment "
                "--comment ltb:alice__lab -j ACCEPT\n"
                "-A LTB-INPUT -i lm111111 -p tcp -m comment --comment ltb:alice__lab -j REJECT "
                "--reject-with tcp-reset\n"
                "-A LTB-INPUT -i lm111111 -m comment --comment ltb:alice__lab -j REJECT "
                "--reject-with icmp-admin-prohibited\n"
                "COMMIT\n");

  // Again over the listing: the lab's three old rules deleted (as listed), the new ones added,
  // the other lab's untouched, no second chain or jump.
  auto listing = net::parse_firewall_listing(k_listing, spec.lab);
  text = net::host_firewall_restore(listing, spec, IpFamily::v4, false);
  CHECK(text.find("-N ") == std::string::npos);
  CHECK(text.find("-I INPUT") == std::string::npos);
  CHECK(text.find("-D LTB-INPUT -i lm111111 -p udp -m udp --dport 67 -m comment --comment "
                  "ltb:alice__lab:dhcp -j ACCEPT\n") != std::string::npos);
  CHECK(std::count(text.begin(), text.end(), '\n') == 1 + 3 + 3 + 1);
  CHECK(text.find("lm222222") == std::string::npos);

  // Removal: the lab's rules go; the chain stays while another lab has rules in it.
  text = net::host_firewall_restore(listing, spec, IpFamily::v4, true);
  CHECK(std::count(text.begin(), text.end(), '\n') == 1 + 3 + 1);
  CHECK(text.find("-X") == std::string::npos);
  CHECK(text.find("-A ") == std::string::npos);
  // The last lab: the jump and the chain go too.
  auto last = net::parse_firewall_listing(listing_of(spec, IpFamily::v6), spec.lab);
  text = net::host_firewall_restore(last, spec, IpFamily::v6, true);
  CHECK(text.find("-D INPUT -j LTB-INPUT\n-X LTB-INPUT\nCOMMIT\n") != std::string::npos);
  // Nothing to do: no transaction at all.
  CHECK(net::host_firewall_restore(fresh, spec, IpFamily::v4, true).empty());
}

TEST_CASE("host firewall: a confined lab's rules are planned before its nodes, none for others") {
  auto t = confined_lab();
  auto p = plan::plan_up(t, {}, {}, {});
  REQUIRE(p);
  auto fw = index_of(*p, ActionKind::configure_firewall);
  CHECK(p->actions[fw].why == plan::Reason::new_object);
  CHECK(p->firewall ==
        plan::FirewallRules{plan::mgmt_bridge_name(t.name),
                            false,
                            {plan::veth_prefix(t.name) + "+", plan::bridge_prefix(t.name) + "+"}});
  for (const auto &action : p->actions) {
    if (action.kind == ActionKind::create_node || action.kind == ActionKind::create_vm) {
      CHECK(depends_on(action, fw));
    }
  }
  CHECK(plan::describe(p->actions[fw], *p) ==
        fmt::format("close the host to the nodes on {} [new]", plan::mgmt_bridge_name(t.name)));

  // With a VM, DHCP to ltb's dnsmasq passes.
  auto with_vm = plan::plan_up(confined_lab(true), {}, {}, {});
  REQUIRE(with_vm);
  CHECK(with_vm->firewall.dhcp);

  // An admin's lab: nothing.
  auto admin = confined_lab();
  admin.confined = false;
  auto q = plan::plan_up(admin, {}, {}, {});
  REQUIRE(q);
  CHECK(count(*q, ActionKind::configure_firewall) == 0);
  CHECK(count(*q, ActionKind::remove_firewall) == 0);
  // ... unless rules of a lab of that name were left (state lost): they go.
  plan::Observed left;
  left.firewall_present = true;
  auto r = plan::plan_up(admin, {}, left, {});
  REQUIRE(r);
  CHECK(count(*r, ActionKind::remove_firewall) == 1);
}

TEST_CASE("host firewall: down finds the rules by their comment, and removes them after nodes") {
  plan::Observed observed;
  observed.firewall_present = true; // no state at all
  auto p = plan::plan_down("alice__web", {}, observed);
  REQUIRE(count(p, ActionKind::remove_firewall) == 1);

  // Only the record (a crash between the record and the rules).
  plan::Recorded recorded;
  recorded.objects.push_back({1, "alice__web", state::ObjectType::firewall, "firewall", "", "", "",
                              state::RecordStatus::creating});
  CHECK(count(plan::plan_down("alice__web", recorded, {}), ActionKind::remove_firewall) == 1);
  CHECK(count(plan::plan_down("alice__web", {}, {}), ActionKind::remove_firewall) == 0);

  // After the containers.
  plan::Observed running = observed;
  running.containers["h1"] = {"c1", "ltb-alice__web-h1", "running", ""};
  auto q = plan::plan_down("alice__web", {}, running);
  auto fw = index_of(q, ActionKind::remove_firewall);
  auto node = index_of(q, ActionKind::remove_node);
  CHECK(depends_on(q.actions[fw], node));
}

TEST_CASE("host firewall: plan -> apply -> record on the fakes, drift and down") {
  Harness h;
  auto t = confined_lab(true);
  auto report = h.up(t);
  REQUIRE(report);
  INFO(fakes::errors_of(*report));
  CHECK(report->ok());
  auto &w = h.fakes.world;
  REQUIRE(w.firewall.count(t.name));
  CHECK(w.firewall.at(t.name).first ==
        net::HostFirewallSpec{t.name, plan::mgmt_bridge_name(t.name), true,
                              plan::firewall_rules(t.name, true).links});
  CHECK(fakes::problems(h, t.name, {t}) == "");
  auto again = h.plan_up(t);
  REQUIRE(again);
  CHECK_MESSAGE(again->empty(), fakes::describe_plan(*again));

  // Removed outside ltb: made again, and only that.
  w.firewall.erase(t.name);
  auto drift = h.plan_up(t);
  REQUIRE(drift);
  REQUIRE(drift->actions.size() == 1);
  CHECK(plan::describe(drift->actions[0], *drift) ==
        fmt::format("close the host to the nodes on {} (DHCP to ltb's dnsmasq let through) "
                    "[firewall missing (removed outside ltb)]",
                    plan::mgmt_bridge_name(t.name)));
  // Only some rules left: made again too.
  w.firewall[t.name].second = false;
  w.firewall[t.name].first = {t.name, plan::mgmt_bridge_name(t.name), true,
                              plan::firewall_rules(t.name, true).links};
  REQUIRE(h.up(t));
  CHECK(w.firewall.at(t.name).second);
  again = h.plan_up(t);
  REQUIRE(again);
  CHECK(again->empty());

  // The VM goes: DHCP is no longer let through.
  auto fewer = confined_lab(false);
  report = h.up(fewer);
  REQUIRE(report);
  CHECK(report->ok());
  CHECK_FALSE(w.firewall.at(t.name).first.dhcp);

  auto down = h.down(t.name);
  REQUIRE(down);
  CHECK(down->ok());
  CHECK(w.firewall.empty());
  CHECK_MESSAGE(w.empty(), w.describe());
  auto objects = h.store->objects(t.name);
  REQUIRE(objects);
  CHECK(objects->empty());
}

TEST_CASE("host firewall: a failure to install the rules makes no node and leaves nothing") {
  Harness h;
  auto t = confined_lab();
  h.fakes.world.faults.inject("firewall_apply", t.name, 1);
  auto report = h.up(t);
  REQUIRE(report);
  CHECK_FALSE(report->ok());
  CHECK(fakes::errors_of(*report).find("injected failure of firewall_apply") != std::string::npos);
  auto &w = h.fakes.world;
  CHECK(w.containers.empty());
  CHECK(w.firewall.empty());
  CHECK(fakes::problems(h, t.name, {t}) == "");
  auto objects = h.store->objects(t.name);
  REQUIRE(objects);
  CHECK(std::none_of(objects->begin(), objects->end(), [](const auto &object) {
    return object.type == state::ObjectType::firewall;
  }));

  // The next run converges.
  report = h.up(t);
  REQUIRE(report);
  CHECK(report->ok());
  CHECK(w.firewall.count(t.name) == 1);
  CHECK(w.containers.size() == 2);
  REQUIRE(h.down(t.name));
  CHECK_MESSAGE(w.empty(), w.describe());
}

TEST_CASE("host firewall: ltb start of a confined lab makes lost rules first") {
  Harness h;
  auto t = confined_lab();
  auto report = h.up(t);
  REQUIRE(report);
  REQUIRE(report->ok());
  auto stopped = h.lifecycle(t.name, {}, true);
  REQUIRE(stopped);
  CHECK(stopped->ok());
  auto &w = h.fakes.world;
  w.firewall.clear(); // a reboot empties the tables

  auto b = h.backends();
  auto plan_start = [&] {
    auto recorded = apply::read_recorded(*h.store, t.name);
    REQUIRE(recorded);
    auto observed = apply::observe(t.name, b, {false, false, false, h.lab_dir(t.name)});
    REQUIRE(observed);
    auto p = plan::plan_lifecycle(t.name, *recorded, *observed, {}, false);
    REQUIRE(p);
    return *p;
  };
  auto p = plan_start();
  REQUIRE(p.actions.size() == 3);
  CHECK(p.actions[0].kind == ActionKind::configure_firewall);
  CHECK(p.actions[0].name == plan::mgmt_bridge_name(t.name));
  for (std::size_t i = 1; i < p.actions.size(); ++i) {
    CHECK(p.actions[i].kind == ActionKind::start_node);
    CHECK(depends_on(p.actions[i], 0));
  }
  apply::ApplyOptions options;
  options.lab_dir = h.lab_dir(t.name);
  auto started = apply::apply_lifecycle(p, &t, b, h.progress, options);
  INFO(fakes::errors_of(started));
  CHECK(started.ok());
  REQUIRE(w.firewall.count(t.name));
  CHECK(w.firewall.at(t.name).first.interface == plan::mgmt_bridge_name(t.name));
  CHECK(fakes::problems(h, t.name, {t}) == "");

  // Rules in place: a start plans none; a failed install starts no node.
  REQUIRE(h.lifecycle(t.name, {}, true));
  p = plan_start();
  CHECK(count(p, ActionKind::configure_firewall) == 0);
  CHECK(count(p, ActionKind::start_node) == 2);
  w.firewall.clear();
  w.faults.inject("firewall_apply", t.name, 1);
  p = plan_start();
  started = apply::apply_lifecycle(p, &t, b, h.progress, options);
  CHECK_FALSE(started.ok());
  CHECK(started.done == 0);
  for (const auto &[name, container] : w.containers) {
    CHECK(container.state == "exited");
  }
  // A stop never touches them.
  auto recorded = apply::read_recorded(*h.store, t.name);
  REQUIRE(recorded);
  auto stop = plan::plan_lifecycle(t.name, *recorded, {}, {}, true);
  REQUIRE(stop);
  CHECK(count(*stop, ActionKind::configure_firewall) == 0);
}
