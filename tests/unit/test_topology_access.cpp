// Login fields of the topology (username, password, ssh-key): defaults by kind, inheritance
// node -> group -> kind -> defaults, the diagnostics about them, and that they are not part of
// the node's configuration hash.

#include "testutil.hpp"
#include "topology/loader.hpp"

#include <doctest/doctest.h>
#include <string>

namespace {

using namespace ltb::topology;
using ltb::test::TempDir;

Topology load_ok(const TempDir &dir, const std::string &yaml, Diagnostics *warnings = nullptr) {
  Diagnostics ignored;
  auto result =
      load_text(yaml, "lab.yaml", dir.path.string(), {{}, warnings ? warnings : &ignored});
  if (!result) {
    FAIL(render(result.error(), false));
  }
  return *result;
}

std::string errors(const std::string &yaml) {
  TempDir dir;
  auto result = load_text(yaml, "lab.yaml", dir.path.string(), {});
  REQUIRE_MESSAGE(!result.has_value(), "the load was expected to fail");
  return render(result.error(), false);
}

const Node &node(const Topology &t, const std::string &name) {
  const Node *n = t.find_node(name);
  REQUIRE_MESSAGE(n != nullptr, "no node " << name);
  return *n;
}

} // namespace

TEST_CASE("topology access: each kind has a default login") {
  TempDir dir;
  dir.write("disk.qcow2", "x");
  const auto t = load_ok(dir, R"(name: lab1
topology:
  nodes:
    r1: {kind: frr}
    h1: {kind: linux, image: alpine}
    vm1: {kind: vm, image: disk.qcow2}
    sw1: {kind: ovs-bridge}
)");
  CHECK(node(t, "r1").username == "root");
  CHECK(node(t, "r1").password == "ltb");
  CHECK(node(t, "h1").username == "root");
  CHECK(node(t, "h1").password.empty());
  CHECK(node(t, "vm1").username == "root");
  CHECK(node(t, "vm1").password == "ltb");
  CHECK(node(t, "sw1").username.empty());
  for (const auto &n : t.nodes) {
    CHECK(n.ssh_key.empty());
  }
  CHECK(default_login("frr").password == "ltb");
  CHECK(default_login("ovs-bridge").username.empty());
}

TEST_CASE("topology access: the most specific level sets each login field") {
  TempDir dir;
  dir.write("keys/team", "not checked here");
  dir.write("keys/own", "not checked here");
  const auto t = load_ok(dir, R"(name: lab1
topology:
  defaults:
    username: admin
    password: from-defaults
    ssh-key: keys/team
  kinds:
    frr:
      password: 1234
  groups:
    core:
      username: netops
      ssh-key: keys/own
  nodes:
    r1: {kind: frr}
    r2: {kind: frr, group: core}
    r3: {kind: frr, group: core, username: r3user, password: "", ssh-key: /abs/key}
    h1: {kind: linux, image: alpine}
)");
  // r1: kind sets the password (a number, kept as written), defaults the rest
  CHECK(node(t, "r1").username == "admin");
  CHECK(node(t, "r1").password == "1234");
  CHECK(node(t, "r1").ssh_key == (dir.path / "keys/team").string());
  // r2: the group is more specific than kind and defaults
  CHECK(node(t, "r2").username == "netops");
  CHECK(node(t, "r2").password == "1234");
  CHECK(node(t, "r2").ssh_key == (dir.path / "keys/own").string());
  // r3: the node itself wins; an empty password means none
  CHECK(node(t, "r3").username == "r3user");
  CHECK(node(t, "r3").password.empty());
  CHECK(node(t, "r3").ssh_key == "/abs/key");
  // h1: defaults only (the kind's default password is replaced by the defaults' one)
  CHECK(node(t, "h1").username == "admin");
  CHECK(node(t, "h1").password == "from-defaults");
}

TEST_CASE("topology access: login fields do not change the configuration hash") {
  TempDir dir;
  const auto plain = load_ok(dir, "name: l\ntopology:\n  nodes:\n    r1: {kind: frr}\n");
  const auto with_login =
      load_ok(dir, "name: l\ntopology:\n  nodes:\n    r1: {kind: frr, username: u, password: p}\n");
  CHECK(node_config_hash(node(plain, "r1")) == node_config_hash(node(with_login, "r1")));
}

TEST_CASE("topology access: a missing ssh-key file is a warning, once per value") {
  TempDir dir;
  Diagnostics warnings;
  const auto t = load_ok(dir, R"(name: lab1
topology:
  kinds:
    frr:
      ssh-key: missing.key
  nodes:
    r1: {kind: frr}
    r2: {kind: frr}
)",
                         &warnings);
  CHECK(node(t, "r2").ssh_key == (dir.path / "missing.key").string());
  warnings.source_text.clear();
  const std::string text = render(warnings, false);
  CHECK(text == "lab.yaml:5:16: warning: ssh-key file '" + (dir.path / "missing.key").string() +
                    "' does not exist\n"
                    "help: ltb ssh and the generated ssh_config use the lab's own key and the "
                    "password instead; a relative path is relative to the topology file's "
                    "directory\n");
}

TEST_CASE("topology access: schema errors point at the value") {
  const std::string user = errors(R"(name: x
topology:
  nodes:
    r1:
      kind: frr
      username: "bad user"
)");
  CHECK(user.find("lab.yaml:6:17: error: malformed SSH user 'bad user'\n") == 0);
  CHECK(user.find("help: User that `ltb ssh`") != std::string::npos);

  const std::string password = errors(R"(name: x
topology:
  groups:
    g:
      password: [a, b]
  nodes:
    r1: {kind: frr, group: g}
)");
  CHECK(password.find("lab.yaml:5:17: error: 'password' must be a string or a number\n") == 0);

  const std::string key = errors(R"(name: x
topology:
  defaults:
    ssh-key: ""
  nodes:
    r1: {kind: frr}
)");
  CHECK(key.find("lab.yaml:4:14: error:") == 0);
}

TEST_CASE("topology access: an ovs-bridge node has no login") {
  const std::string text = errors(R"(name: x
topology:
  nodes:
    sw1:
      kind: ovs-bridge
      username: admin
)");
  CHECK(text.find("lab.yaml:6:7: error: 'username' does not apply to ovs-bridge node 'sw1'") == 0);
}
