// The ssh client's parts that need no node: which target a node name leads to (from state, with
// logins.json, the recorded topology or the kind's default), the one-line errors, exit statuses
// of commands ended by a signal, and connection failures against local sockets.

#include "access/access_files.hpp"
#include "access/keys.hpp"
#include "access/ssh.hpp"
#include "testutil.hpp"
#include "topology/loader.hpp"

#include <arpa/inet.h>
#include <csignal>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

namespace {

using namespace ltb;
using ltb::test::TempDir;

struct Lab {
  TempDir dir;
  std::unique_ptr<state::Store> store;
  std::string lab_dir;

  explicit Lab(const std::string &topology_text = {}) {
    auto opened = state::Store::open(dir.file("state/state.db"));
    REQUIRE(opened);
    store = std::move(*opened);
    lab_dir = dir.file("state/labs/lab1");
    state::LabRecord lab;
    lab.name = "lab1";
    lab.topology_text = topology_text;
    lab.owner = "tester";
    lab.status = ltb::state::RecordStatus::running;
    REQUIRE(store->put_lab(lab));
    REQUIRE(store->put_node({"lab1", "r1", "frr", "ltb/frr:latest", "h", "172.20.41.2", "cid1",
                             ltb::state::RecordStatus::running}));
    REQUIRE(store->put_node(
        {"lab1", "vm1", "vm", "", "h", "172.20.41.3", "uuid1", ltb::state::RecordStatus::running}));
    REQUIRE(store->put_node({"lab1", "h1", "linux", "alpine", "h", "172.20.41.4", "",
                             ltb::state::RecordStatus::failed}));
    REQUIRE(store->put_node(
        {"lab1", "sw1", "ovs-bridge", "", "h", "", "lb1", ltb::state::RecordStatus::running}));
  }
};

/// A TCP socket on 127.0.0.1 that listens (and never accepts); its port.
struct Listener {
  int fd = -1;
  int port = 0;
  Listener() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr *>(&address), sizeof address) == 0);
    socklen_t length = sizeof address;
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr *>(&address), &length) == 0);
    REQUIRE(::listen(fd, 4) == 0);
    port = ntohs(address.sin_port);
  }
  ~Listener() { ::close(fd); }
};

} // namespace

TEST_CASE("ssh target: address, runtime id and files from state; the kind's login by default") {
  Lab lab;
  auto target = access::ssh_target(*lab.store, lab.lab_dir, "lab1", "r1");
  REQUIRE(target);
  CHECK(target->host == "172.20.41.2");
  CHECK(target->port == 22);
  CHECK(target->user == "root");
  CHECK(target->password == "ltb");
  CHECK(target->runtime_id == "cid1");
  CHECK(target->kind == "frr");
  CHECK(target->key_file.empty()); // the lab has no key yet
  CHECK(target->known_hosts_file == lab.lab_dir + "/known_hosts");
  CHECK(target->console_log.empty());

  REQUIRE(access::ensure_lab_key(lab.lab_dir, "lab1"));
  auto vm = access::ssh_target(*lab.store, lab.lab_dir, "lab1", "vm1");
  REQUIRE(vm);
  CHECK(vm->key_file == lab.lab_dir + "/id_ed25519");
  CHECK(vm->console_log == lab.lab_dir + "/vm1/console.log");
  CHECK(vm->password == "ltb");
}

TEST_CASE("ssh target: the login recorded at ltb up wins, else the recorded topology") {
  Lab lab("name: lab1\ntopology:\n  nodes:\n    r1: {kind: frr, username: admin, password: "
          "fromtext}\n");
  auto target = access::ssh_target(*lab.store, lab.lab_dir, "lab1", "r1");
  REQUIRE(target);
  CHECK(target->user == "admin");
  CHECK(target->password == "fromtext");

  TempDir files;
  topology::Diagnostics warnings;
  auto desired = topology::load_text(
      "name: lab1\ntopology:\n  nodes:\n    r1: {kind: frr, username: ops, password: s3cret}\n",
      "lab.yaml", files.path.string(), {{}, &warnings});
  REQUIRE(desired);
  REQUIRE(access::write_logins(lab.lab_dir, *desired));
  target = access::ssh_target(*lab.store, lab.lab_dir, "lab1", "r1");
  REQUIRE(target);
  CHECK(target->user == "ops");
  CHECK(target->password == "s3cret");
}

TEST_CASE("ssh target: one clear error per wrong name or state") {
  Lab lab;
  auto unknown_lab = access::ssh_target(*lab.store, lab.lab_dir, "lab2", "r1");
  REQUIRE_FALSE(unknown_lab);
  CHECK(unknown_lab.error().message == "no lab named 'lab2'");
  CHECK(unknown_lab.error().help == "did you mean 'lab1'?");

  auto typo = access::ssh_target(*lab.store, lab.lab_dir, "lab1", "r2");
  REQUIRE_FALSE(typo);
  CHECK(typo.error().message == "lab 'lab1' has no node 'r2'");
  CHECK(typo.error().help == "did you mean 'r1'?");

  auto far = access::ssh_target(*lab.store, lab.lab_dir, "lab1", "zzzzzz");
  REQUIRE_FALSE(far);
  CHECK(far.error().help == "see `ltb inspect lab1` for its nodes");

  auto stopped = access::ssh_target(*lab.store, lab.lab_dir, "lab1", "h1");
  REQUIRE_FALSE(stopped);
  CHECK(stopped.error().message ==
        "node 'h1' of lab 'lab1' is not running (its status is 'failed')");

  auto bridge = access::ssh_target(*lab.store, lab.lab_dir, "lab1", "sw1");
  REQUIRE_FALSE(bridge);
  CHECK(bridge.error().message ==
        "node 'sw1' of lab 'lab1' is an Open vSwitch bridge: there is nothing to log in to");
}

TEST_CASE("ssh: connection errors are one line naming the node") {
  access::SshTarget target;
  target.lab = "lab1";
  target.node = "r1";
  target.host = "172.20.41.2";
  target.kind = "frr";
  auto refused = access::connect_error(target, ECONNREFUSED);
  CHECK(refused.kind == access::SshFailure::refused);
  CHECK(refused.error.message ==
        "connection refused by node 'r1' (172.20.41.2): no ssh server listens on port 22");
  auto unreachable = access::connect_error(target, EHOSTUNREACH);
  CHECK(unreachable.kind == access::SshFailure::unreachable);
  CHECK(unreachable.error.message == "no route to node 'r1' (172.20.41.2)");
  CHECK(unreachable.error.help.find("`ltb status lab1`") != std::string::npos);
  target.port = 2222;
  auto timeout = access::connect_error(target, ETIMEDOUT);
  CHECK(timeout.kind == access::SshFailure::timeout);
  CHECK(timeout.error.message ==
        "timed out after 10 s connecting to node 'r1' ([172.20.41.2]:2222)");
  CHECK(timeout.error.help.find("--timeout") != std::string::npos);
}

TEST_CASE("ssh: a command ended by a signal exits 128+N") {
  CHECK(access::signal_exit_status("TERM") == 128 + SIGTERM);
  CHECK(access::signal_exit_status("KILL") == 137);
  CHECK(access::signal_exit_status("SIGINT") == 130);
  CHECK(access::signal_exit_status("WHATEVER") == 255);
}

TEST_CASE("ssh: sessions to local sockets fail with the right kind") {
  access::SshTarget target;
  target.lab = "lab1";
  target.node = "r1";
  target.host = "127.0.0.1";
  target.timeout_seconds = 1;
  TempDir dir;
  target.known_hosts_file = dir.file("known_hosts");

  SUBCASE("nothing listens: refused") {
    int port = 0;
    {
      Listener closed; // a port that was free a moment ago
      port = closed.port;
    }
    target.port = port;
    auto session = access::SshSession::open(target);
    REQUIRE_FALSE(session);
    CHECK(session.error().kind == access::SshFailure::refused);
  }
  SUBCASE("a listener that never speaks ssh: timeout") {
    Listener silent;
    target.port = silent.port;
    auto session = access::SshSession::open(target);
    REQUIRE_FALSE(session);
    CHECK_MESSAGE(session.error().kind == access::SshFailure::timeout,
                  session.error().error.message);
    CHECK(session.error().error.message.find("timed out after 1 s") == 0);
  }
  SUBCASE("no file descriptor is left behind") {
    Listener silent;
    target.port = silent.port;
    const int before = ::dup(0);
    ::close(before);
    for (int i = 0; i < 3; ++i) {
      CHECK_FALSE(access::SshSession::open(target));
    }
    const int after = ::dup(0);
    ::close(after);
    CHECK(after == before);
  }
}
