// The lab's known_hosts: parsing and writing back, ltb's decisions on a presented host key (first
// use, known, recreated node, a key the VM vouched for, refusal), the clean-up after `ltb up`, the
// key a VM prints on its console, and the locked file operations.

#include "access/known_hosts.hpp"
#include "testutil.hpp"

#include <doctest/doctest.h>
#include <fstream>
#include <sstream>
#include <string>

namespace {

using namespace ltb::access;
using ltb::test::TempDir;

const HostKey k_old{"ssh-ed25519",
                    "AAAAC3NzaC1lZDI1NTE5AAAAIJ0CvDSQIAvTfHj8nK5wzq6ZYYCRuhsw6rq2Kin2OJ2p"};
const HostKey k_new{"ssh-ed25519",
                    "AAAAC3NzaC1lZDI1NTE5AAAAIKcsMhCdYbU2cpOa9JDut2cQAdNsZjwm08kfjHtvC2GY"};

std::string slurp(const std::string &path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

} // namespace

TEST_CASE("known_hosts: lines round-trip, ltb's comment is read, others are kept") {
  const std::string text = "# a comment\n"
                           "10.0.0.2 ssh-ed25519 AAAA1 ltb-node=r1 ltb-runtime-id=abc\n"
                           "10.0.0.3,r2 ecdsa-sha2-nistp256 AAAA2\n"
                           "|1|salt=|hash= ssh-ed25519 AAAA3\n"
                           "@cert-authority * ssh-ed25519 AAAA4\n"
                           "\n"
                           "[10.0.0.4]:2222 ssh-rsa AAAA5 user@host\n";
  const auto file = parse_known_hosts(text);
  REQUIRE(file.lines.size() == 7);
  CHECK(file.lines[0].hosts.empty());
  CHECK(file.lines[1].hosts == std::vector<std::string>{"10.0.0.2"});
  CHECK(file.lines[1].node == "r1");
  CHECK(file.lines[1].runtime_id == "abc");
  CHECK(file.lines[2].hosts == std::vector<std::string>{"10.0.0.3", "r2"});
  CHECK(file.lines[2].key == HostKey{"ecdsa-sha2-nistp256", "AAAA2"});
  CHECK(file.lines[2].node.empty());
  CHECK(file.lines[3].hosts.empty()); // hashed
  CHECK(file.lines[4].hosts.empty()); // marker
  CHECK(file.lines[6].matches("[10.0.0.4]:2222"));
  CHECK(format_known_hosts(file) == text);
}

TEST_CASE("known_hosts: host fields and fingerprints as OpenSSH writes them") {
  CHECK(host_field("10.0.0.2", 22) == "10.0.0.2");
  CHECK(host_field("10.0.0.2", 2222) == "[10.0.0.2]:2222");
  // ssh-keygen -lf of a file holding k_old
  CHECK(fingerprint(k_old) == "SHA256:mirHr35ZKAqKswy3wDAQhVgqzvpfdihRQq2VTozvNTU");
  CHECK(fingerprint(k_old) != fingerprint(k_new));
}

TEST_CASE("known_hosts: first use records the key with the node and its runtime id") {
  const auto check =
      check_host_key(parse_known_hosts("# kept\n"), "10.0.0.2", k_old, "r1", "id1", std::nullopt);
  CHECK(check.verdict == Verdict::first_use);
  CHECK(check.changed);
  CHECK(format_known_hosts(check.updated) ==
        "# kept\n10.0.0.2 ssh-ed25519 " + k_old.key + " ltb-node=r1 ltb-runtime-id=id1\n");
}

TEST_CASE("known_hosts: the recorded key is known; a line OpenSSH wrote gets ltb's comment") {
  const std::string tagged =
      "10.0.0.2 ssh-ed25519 " + k_old.key + " ltb-node=r1 ltb-runtime-id=id1\n";
  auto check =
      check_host_key(parse_known_hosts(tagged), "10.0.0.2", k_old, "r1", "id1", std::nullopt);
  CHECK(check.verdict == Verdict::known);
  CHECK_FALSE(check.changed);

  check = check_host_key(parse_known_hosts("10.0.0.2 ssh-ed25519 " + k_old.key + "\n"), "10.0.0.2",
                         k_old, "r1", "id1", std::nullopt);
  CHECK(check.verdict == Verdict::known);
  CHECK(check.changed);
  CHECK(format_known_hosts(check.updated) == tagged);
}

TEST_CASE("known_hosts: a changed key is accepted only for a recreated node") {
  const std::string file = "# head\n10.0.0.9 ssh-ed25519 AAAAother\n10.0.0.2 ssh-ed25519 " +
                           k_old.key + " ltb-node=r1 ltb-runtime-id=id1\n";
  SUBCASE("same runtime id: refused, the file unchanged, the line named") {
    const auto check =
        check_host_key(parse_known_hosts(file), "10.0.0.2", k_new, "r1", "id1", std::nullopt);
    CHECK(check.verdict == Verdict::refused);
    CHECK_FALSE(check.changed);
    CHECK(check.line == 3);
    CHECK(check.recorded == k_old);
    CHECK(format_known_hosts(check.updated) == file);
  }
  SUBCASE("another runtime id: ltb recreated the node, the new key replaces the old") {
    const auto check =
        check_host_key(parse_known_hosts(file), "10.0.0.2", k_new, "r1", "id2", std::nullopt);
    CHECK(check.verdict == Verdict::recreated);
    CHECK(format_known_hosts(check.updated) ==
          "# head\n10.0.0.9 ssh-ed25519 AAAAother\n10.0.0.2 ssh-ed25519 " + k_new.key +
              " ltb-node=r1 ltb-runtime-id=id2\n");
  }
  SUBCASE("another node at the address") {
    const auto check =
        check_host_key(parse_known_hosts(file), "10.0.0.2", k_new, "r7", "id1", std::nullopt);
    CHECK(check.verdict == Verdict::recreated);
  }
  SUBCASE("a line without ltb's comment proves nothing: refused") {
    const auto check = check_host_key(parse_known_hosts("10.0.0.2 ssh-ed25519 " + k_old.key + "\n"),
                                      "10.0.0.2", k_new, "r1", "id2", std::nullopt);
    CHECK(check.verdict == Verdict::refused);
  }
  SUBCASE("the key the VM printed on its console vouches for it") {
    const auto check =
        check_host_key(parse_known_hosts(file), "10.0.0.2", k_new, "r1", "id1", k_new);
    CHECK(check.verdict == Verdict::vouched);
    CHECK(check.changed);
    const auto vouched_other =
        check_host_key(parse_known_hosts(file), "10.0.0.2", k_new, "r1", "id1", k_old);
    CHECK(vouched_other.verdict == Verdict::refused);
  }
  SUBCASE("a key of another type than the recorded one counts as changed") {
    const HostKey ecdsa{"ecdsa-sha2-nistp256", "AAAAE2Vj"};
    const auto check =
        check_host_key(parse_known_hosts(file), "10.0.0.2", ecdsa, "r1", "id1", std::nullopt);
    CHECK(check.verdict == Verdict::refused);
    CHECK(check.recorded == k_old);
  }
}

TEST_CASE("known_hosts: a line with several hosts loses only the replaced host") {
  const std::string file =
      "10.0.0.2,r1 ssh-ed25519 " + k_old.key + " ltb-node=r1 ltb-runtime-id=id1\n";
  const auto check =
      check_host_key(parse_known_hosts(file), "10.0.0.2", k_new, "r1", "id2", std::nullopt);
  CHECK(check.verdict == Verdict::recreated);
  CHECK(format_known_hosts(check.updated) ==
        "r1 ssh-ed25519 " + k_old.key + " ltb-node=r1 ltb-runtime-id=id1\n" +
            "10.0.0.2 ssh-ed25519 " + k_new.key + " ltb-node=r1 ltb-runtime-id=id2\n");
}

TEST_CASE("known_hosts: after ltb up, keys of recreated and removed nodes go") {
  const std::string file = "# kept\n"
                           "10.0.0.2 ssh-ed25519 K1 ltb-node=r1 ltb-runtime-id=a\n" // r1 stays
                           "10.0.0.3 ssh-ed25519 K2 ltb-node=r2 ltb-runtime-id=b\n" // r2 recreated
                           "10.0.0.4 ssh-ed25519 K3\n" // OpenSSH, r3 stays
                           "10.0.0.5 ssh-ed25519 K4\n" // OpenSSH, r4 recreated
                           "10.0.0.6 ssh-ed25519 K5 ltb-node=r5 ltb-runtime-id=e\n" // r5 removed
                           "192.0.2.1 ssh-ed25519 K6\n";                            // not the lab's
  const std::vector<NodeIdentity> before{{"r1", "10.0.0.2", "a"},
                                         {"r2", "10.0.0.3", "b"},
                                         {"r3", "10.0.0.4", "c"},
                                         {"r4", "10.0.0.5", "d"},
                                         {"r5", "10.0.0.6", "e"}};
  const std::vector<NodeIdentity> after{{"r1", "10.0.0.2", "a"},
                                        {"r2", "10.0.0.3", "B"},
                                        {"r3", "10.0.0.4", "c"},
                                        {"r4", "10.0.0.5", "D"}};
  const auto synced = sync_known_hosts(parse_known_hosts(file), before, after);
  CHECK(format_known_hosts(synced) == "# kept\n"
                                      "10.0.0.2 ssh-ed25519 K1 ltb-node=r1 ltb-runtime-id=a\n"
                                      "10.0.0.4 ssh-ed25519 K3 ltb-node=r3 ltb-runtime-id=c\n"
                                      "192.0.2.1 ssh-ed25519 K6\n");
}

TEST_CASE("known_hosts: the VM's console shows its key; the last boot counts") {
  const std::string log = "[    8.1] Run /init as init process\r\n"
                          "ltb-vm: ssh host key: ssh-ed25519 AAAAfirst root@vm1\r\n"
                          "ltb-vm ready: eth0 172.20.41.3\r\n"
                          "reboot\r\n"
                          "ltb-vm: ssh host key: ssh-ed25519 AAAAsecond root@vm1\r\n";
  const auto key = console_host_key(log);
  REQUIRE(key);
  CHECK(*key == HostKey{"ssh-ed25519", "AAAAsecond"});
  CHECK_FALSE(console_host_key("no key here\n"));
  CHECK_FALSE(console_host_key("ssh host key: garbage\n"));
}

TEST_CASE("known_hosts: the recorded key type is asked for first") {
  const auto file = parse_known_hosts("10.0.0.2 ecdsa-sha2-nistp256 AAAA ltb-node=r1\n"
                                      "10.0.0.3 ssh-rsa AAAA\n");
  CHECK(host_key_algorithms(file, "10.0.0.2") ==
        "ecdsa-sha2-nistp256,ssh-ed25519,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-512,"
        "rsa-sha2-256");
  CHECK(host_key_algorithms(file, "10.0.0.3").rfind("rsa-sha2-512,rsa-sha2-256,ssh-ed25519,", 0) ==
        0);
  CHECK(host_key_algorithms(file, "10.0.0.9").rfind("ssh-ed25519,", 0) == 0);
}

TEST_CASE("known_hosts: the file operations record, accept, refuse and sync") {
  TempDir dir;
  const std::string path = dir.file("known_hosts");
  auto verdict = verify_host_key(path, "10.0.0.2", k_old, "r1", "id1", std::nullopt);
  REQUIRE(verdict);
  CHECK(*verdict == Verdict::first_use);
  CHECK(slurp(path) == "10.0.0.2 ssh-ed25519 " + k_old.key + " ltb-node=r1 ltb-runtime-id=id1\n");
  verdict = verify_host_key(path, "10.0.0.2", k_old, "r1", "id1", std::nullopt);
  REQUIRE(verdict);
  CHECK(*verdict == Verdict::known);

  auto refused = verify_host_key(path, "10.0.0.2", k_new, "r1", "id1", std::nullopt);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message ==
        "the host key of node 'r1' (10.0.0.2) has changed, but ltb has not recreated the node: "
        "not connecting");
  CHECK(refused.error().help.find(path + " line 1 records " + fingerprint(k_old)) !=
        std::string::npos);
  CHECK(refused.error().help.find("It shows ssh-ed25519 " + fingerprint(k_new)) !=
        std::string::npos);
  CHECK(slurp(path).find(k_old.key) != std::string::npos);

  verdict = verify_host_key(path, "10.0.0.2", k_new, "r1", "id2", std::nullopt);
  REQUIRE(verdict);
  CHECK(*verdict == Verdict::recreated);
  CHECK(slurp(path) == "10.0.0.2 ssh-ed25519 " + k_new.key + " ltb-node=r1 ltb-runtime-id=id2\n");

  REQUIRE(sync_known_hosts_file(path, {{"r1", "10.0.0.2", "id2"}}, {{"r1", "10.0.0.2", "id3"}}));
  CHECK(slurp(path).empty());
  // A lab that never had one keeps having none.
  REQUIRE(sync_known_hosts_file(dir.file("absent"), {}, {{"r1", "10.0.0.2", "x"}}));
  CHECK_FALSE(std::filesystem::exists(dir.file("absent")));
}
