// The access files of a lab (ssh_config, inventory.yml, topology-data.json) against golden
// text, logins.json both ways, and the writing of the files with their modes.

#include "access/access_files.hpp"
#include "testutil.hpp"
#include "topology/loader.hpp"

#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

namespace {

using namespace ltb;
using ltb::test::TempDir;

const std::string k_lab_dir = "/var/lib/ltb/labs/lab1";

topology::Topology load(const TempDir &dir, const std::string &yaml) {
  topology::Diagnostics warnings;
  auto result = topology::load_text(yaml, "lab.yaml", dir.path.string(), {{}, &warnings});
  if (!result) {
    FAIL(topology::render(result.error(), false));
  }
  return *result;
}

/// r1 (frr, own key), h1 (linux without sshd, in group "edge lan"), sw1 between h1 and r1, node
/// "yes" (linux whose image runs sshd, in containerlab's ansible-group "spine") and v1 (a VM of
/// another image than ltb's, so no key in it: its password is needed).
access::LabAccess sample(const TempDir &dir) {
  dir.write("keys/r1", "x");
  dir.write("own.qcow2", "x");
  const auto t = load(dir, R"(name: lab1
mgmt:
  ipv4-subnet: 172.20.41.0/24
topology:
  groups:
    edge lan: {labels: {role: edge}}
  nodes:
    r1: {kind: frr, ssh-key: keys/r1}
    h1: {kind: linux, image: ltb/busybox:latest, group: edge lan, username: admin}
    sw1: {kind: ovs-bridge}
    "yes":
      kind: linux
      image: alpine
      password: "p\"w"
      labels: {ltb-sshd: "true", ansible-group: spine}
    v1: {kind: vm, image: ./own.qcow2, password: "se\"cret"}
  links:
    - endpoints: ["r1:eth1", "sw1:p1"]
    - endpoints: ["h1:eth1", "sw1:p2"]
    - endpoints: ["r1:eth2", "yes:eth1"]
      mtu: 9000
)");
  std::vector<state::NodeRecord> records{
      {"lab1", "r1", "frr", "ltb/frr:latest", "h", "172.20.41.2", "c1",
       ltb::state::RecordStatus::running},
      {"lab1", "h1", "linux", "ltb/busybox:latest", "h", "172.20.41.3", "c2",
       ltb::state::RecordStatus::running},
      {"lab1", "sw1", "ovs-bridge", "", "h", "", "lb123456abcdef",
       ltb::state::RecordStatus::running},
      {"lab1", "yes", "linux", "alpine", "h", "172.20.41.4", "c4",
       ltb::state::RecordStatus::running},
      {"lab1", "v1", "vm", "own.qcow2", "h", "172.20.41.5", "d5",
       ltb::state::RecordStatus::running},
  };
  return access::lab_access(t, records, k_lab_dir, "ltb-lab1", "172.20.41.0/24");
}

std::string slurp(const std::string &path) {
  std::ifstream in(path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

} // namespace

TEST_CASE("access files: ssh_config, one Host block per node with an ssh server") {
  TempDir dir;
  const auto lab = sample(dir);
  const std::string key = (dir.path / "keys/r1").string();
  CHECK(
      access::ssh_config_text(lab) ==
      "# How to reach the nodes of lab lab1 with OpenSSH: ssh -F "
      "/var/lib/ltb/labs/lab1/ssh_config NODE\n"
      "# Written by `ltb up`, removed by `ltb down`. Host keys go to the lab's known_hosts, which\n"
      "# ltb keeps (a node that ltb recreates gets its new key accepted).\n"
      "# Not here, having no ssh server: h1 (ltb exec NODE, or Docker's connection in "
      "inventory.yml).\n"
      "\n"
      "Host r1 lab1-r1\n"
      "  HostName 172.20.41.2\n"
      "  Port 22\n"
      "  User root\n"
      "  IdentityFile \"" +
          key +
          "\"\n"
          "  IdentityFile \"/var/lib/ltb/labs/lab1/id_ed25519\"\n"
          "  IdentitiesOnly yes\n"
          "  UserKnownHostsFile \"/var/lib/ltb/labs/lab1/known_hosts\"\n"
          "  StrictHostKeyChecking accept-new\n"
          "  HashKnownHosts no\n"
          "  UpdateHostKeys no\n"
          "  CheckHostIP no\n"
          "  LogLevel ERROR\n"
          "\n"
          "Host yes lab1-yes\n"
          "  HostName 172.20.41.4\n"
          "  Port 22\n"
          "  User root\n"
          "  IdentityFile \"/var/lib/ltb/labs/lab1/id_ed25519\"\n"
          "  IdentitiesOnly yes\n"
          "  UserKnownHostsFile \"/var/lib/ltb/labs/lab1/known_hosts\"\n"
          "  StrictHostKeyChecking accept-new\n"
          "  HashKnownHosts no\n"
          "  UpdateHostKeys no\n"
          "  CheckHostIP no\n"
          "  LogLevel ERROR\n"
          "\n"
          "Host v1 lab1-v1\n"
          "  HostName 172.20.41.5\n"
          "  Port 22\n"
          "  User root\n"
          "  IdentityFile \"/var/lib/ltb/labs/lab1/id_ed25519\"\n"
          "  IdentitiesOnly yes\n"
          "  UserKnownHostsFile \"/var/lib/ltb/labs/lab1/known_hosts\"\n"
          "  StrictHostKeyChecking accept-new\n"
          "  HashKnownHosts no\n"
          "  UpdateHostKeys no\n"
          "  CheckHostIP no\n"
          "  LogLevel ERROR\n");
}

TEST_CASE("access files: the Ansible inventory, grouped by kind and by group") {
  TempDir dir;
  const auto lab = sample(dir);
  const std::string key = (dir.path / "keys/r1").string();
  const std::string disk = (dir.path / "own.qcow2").string();
  CHECK(access::inventory_text(lab) ==
        "# Ansible inventory of lab lab1: ansible -i /var/lib/ltb/labs/lab1/inventory.yml GROUP -m "
        "MODULE\n"
        "# Written by `ltb up`, removed by `ltb down`. Groups: one per kind (with the kind's\n"
        "# connection: FRR takes network modules such as ansible.netcommon.cli_command), one per\n"
        "# topology group and ansible-group label. Nodes without an ssh server go through Docker\n"
        "# (community.docker.docker); without Python in a node, use -m raw.\n"
        "all:\n"
        "  vars:\n"
        "    ansible_ssh_private_key_file: \"/var/lib/ltb/labs/lab1/id_ed25519\"\n"
        "    ansible_ssh_common_args: \"-o UserKnownHostsFile=/var/lib/ltb/labs/lab1/known_hosts "
        "-o StrictHostKeyChecking=accept-new -o HashKnownHosts=no\"\n"
        "  hosts:\n"
        "    r1:\n"
        "      ansible_host: 172.20.41.2\n"
        "      ansible_port: 22\n"
        "      ansible_user: \"root\"\n"
        "      ansible_ssh_private_key_file: \"" +
            key +
            "\"\n"
            "      ltb_kind: frr\n"
            "      ltb_image: \"ltb/frr:latest\"\n"
            "    h1:\n"
            "      ansible_connection: community.docker.docker\n"
            "      ansible_host: \"ltb-lab1-h1\"\n"
            "      ltb_kind: linux\n"
            "      ltb_image: \"ltb/busybox:latest\"\n"
            "    \"yes\":\n"
            "      ansible_host: 172.20.41.4\n"
            "      ansible_port: 22\n"
            "      ansible_user: \"root\"\n"
            "      ltb_kind: linux\n"
            "      ltb_image: \"alpine\"\n"
            "    v1:\n"
            "      ansible_host: 172.20.41.5\n"
            "      ansible_port: 22\n"
            "      ansible_user: \"root\"\n"
            "      ansible_password: \"se\\\"cret\"\n"
            "      ltb_kind: vm\n"
            "      ltb_image: \"" +
            disk +
            "\"\n"
            "  children:\n"
            "    edge_lan:\n"
            "      hosts:\n"
            "        h1:\n"
            "    frr:\n"
            "      vars:\n"
            "        ansible_connection: ansible.netcommon.network_cli\n"
            "        ansible_network_os: frr.frr.frr\n"
            "        ansible_host_key_checking: false\n"
            "        ansible_terminal_initial_prompt: \"\\\\S+@\\\\S+:\\\\S*[#$] ?$\"\n"
            "        ansible_terminal_initial_answer: vtysh\n"
            "        ansible_network_cli_ssh_type: paramiko\n"
            "      hosts:\n"
            "        r1:\n"
            "    linux:\n"
            "      hosts:\n"
            "        h1:\n"
            "        \"yes\":\n"
            "    spine:\n"
            "      hosts:\n"
            "        \"yes\":\n"
            "    vm:\n"
            "      hosts:\n"
            "        v1:\n");
}

TEST_CASE("access files: topology-data.json describes nodes, interfaces and links") {
  TempDir dir;
  const auto lab = sample(dir);
  const auto data = nlohmann::json::parse(access::topology_data_text(lab));
  CHECK(data["lab"] == "lab1");
  CHECK(data["mgmt"]["ipv4_subnet"] == "172.20.41.0/24");
  CHECK(data["access"]["ssh_config"] == "/var/lib/ltb/labs/lab1/ssh_config");
  REQUIRE(data["nodes"].size() == 5);
  const auto &r1 = data["nodes"][0];
  CHECK(r1["name"] == "r1");
  CHECK(r1["kind"] == "frr");
  CHECK(r1["image"] == "ltb/frr:latest");
  CHECK(r1["mgmt_ipv4"] == "172.20.41.2");
  CHECK(r1["runtime_name"] == "ltb-lab1-r1");
  CHECK(r1["ssh"]["user"] == "root");
  CHECK(r1["ssh"]["port"] == 22);
  CHECK(r1["ssh"]["password"] == true);
  CHECK(r1["connection"] == "ssh");
  CHECK(r1["ssh"]["identity_files"].size() == 2);
  CHECK(r1["interfaces"] ==
        nlohmann::json::parse(R"([{"name":"eth0","link":"mgmt","ipv4":"172.20.41.2"},
                                  {"name":"eth1","link":"r1-sw1","peer":"sw1:p1"},
                                  {"name":"eth2","link":"r1-yes","peer":"yes:eth1"}])"));
  const auto &h1 = data["nodes"][1];
  CHECK(h1["group"] == "edge lan");
  CHECK(h1["labels"]["role"] == "edge");
  CHECK(h1["connection"] == "docker");
  CHECK_FALSE(h1.contains("ssh"));
  const auto &sw1 = data["nodes"][2];
  CHECK(sw1["kind"] == "ovs-bridge");
  CHECK(sw1["mgmt_ipv4"].is_null());
  CHECK_FALSE(sw1.contains("ssh"));
  CHECK(sw1["connection"].is_null());
  CHECK(sw1["interfaces"].size() == 2);
  REQUIRE(data["links"].size() == 3);
  CHECK(data["links"][0] == nlohmann::json::parse(R"({"name":"r1-sw1","type":"segment","mtu":null,
      "endpoints":[{"node":"r1","interface":"eth1"},{"node":"sw1","interface":"p1"}]})"));
  CHECK(data["links"][2]["type"] == "veth");
  CHECK(data["links"][2]["mtu"] == 9000);
  // Passwords stay out of this file.
  CHECK(access::topology_data_text(lab).find("ltb\"") == std::string::npos);
}

TEST_CASE("access files: logins.json holds each node's login and reads back") {
  TempDir dir;
  dir.write("keys/r1", "x");
  const auto t = load(dir, R"(name: lab1
topology:
  nodes:
    r1: {kind: frr, ssh-key: keys/r1}
    h1: {kind: linux, image: alpine, username: admin, password: 42}
    sw1: {kind: ovs-bridge}
)");
  const auto logins = access::parse_logins(access::logins_text(t));
  REQUIRE(logins.size() == 2);
  CHECK(logins.at("r1").username == "root");
  CHECK(logins.at("r1").password == "ltb");
  CHECK(logins.at("r1").ssh_key == (dir.path / "keys/r1").string());
  CHECK(logins.at("h1").username == "admin");
  CHECK(logins.at("h1").password == "42");
  CHECK(logins.at("h1").ssh_key.empty());
  CHECK(access::parse_logins("not json").empty());
  CHECK(access::parse_logins(R"({"nodes": {"x": {"username": 5}}})").at("x").username.empty());
}

TEST_CASE("access files: written with mode 0600, and removed with the keys") {
  TempDir dir;
  const auto t = load(dir, "name: lab1\ntopology:\n  nodes:\n    r1: {kind: frr}\n");
  const std::string lab_dir = dir.file("labs/lab1");
  std::filesystem::create_directories(lab_dir);
  REQUIRE(access::write_logins(lab_dir, t));
  const auto lab = access::lab_access(t,
                                      {{"lab1", "r1", "frr", "ltb/frr:latest", "h", "172.20.41.2",
                                        "c1", ltb::state::RecordStatus::running}},
                                      lab_dir, "ltb-lab1", "172.20.41.0/24");
  REQUIRE(access::write_access_files(lab));
  const access::LabPaths paths{lab_dir};
  for (const auto &file :
       {paths.logins(), paths.ssh_config(), paths.inventory(), paths.topology_data()}) {
    struct stat info {};
    REQUIRE(::stat(file.c_str(), &info) == 0);
    CHECK_MESSAGE((info.st_mode & 0777) == 0600, file);
  }
  CHECK(slurp(paths.ssh_config()) == access::ssh_config_text(lab));
  access::remove_access_files(lab_dir);
  CHECK(std::filesystem::is_empty(lab_dir));
}

TEST_CASE("access files: the inventory is YAML that Ansible's reader takes as meant") {
  TempDir dir;
  const YAML::Node inventory = YAML::Load(access::inventory_text(sample(dir)));
  const auto hosts = inventory["all"]["hosts"];
  REQUIRE(hosts.IsMap());
  CHECK(hosts.size() == 4);
  CHECK(hosts["yes"]["ansible_host"].as<std::string>() == "172.20.41.4");
  CHECK(hosts["r1"]["ansible_user"].as<std::string>() == "root");
  CHECK(inventory["all"]["children"]["linux"]["hosts"]["yes"]);
  CHECK(inventory["all"]["children"]["edge_lan"]["hosts"]["h1"]);
  CHECK_FALSE(hosts["sw1"]);
}

TEST_CASE("access files: the inventory logs in with the key, the password only without one") {
  TempDir dir;
  const YAML::Node hosts = YAML::Load(access::inventory_text(sample(dir)))["all"]["hosts"];
  // Containers get the lab's key as they are made: no password, so Ansible needs no sshpass.
  CHECK_FALSE(hosts["r1"]["ansible_password"]);
  CHECK_FALSE(hosts["yes"]["ansible_password"]);
  // A VM of an image other than ltb's does not take the key from its command line.
  CHECK(hosts["v1"]["ansible_password"].as<std::string>() == "se\"cret");
  CHECK(hosts["v1"]["ansible_user"].as<std::string>() == "root");
}

TEST_CASE("access files: the inventory's connection per kind, Docker's without an ssh server") {
  TempDir dir;
  const YAML::Node inventory = YAML::Load(access::inventory_text(sample(dir)));
  const auto hosts = inventory["all"]["hosts"];
  const auto children = inventory["all"]["children"];
  // h1's image has no sshd: Docker's connection by container name, no ssh settings.
  CHECK(hosts["h1"]["ansible_connection"].as<std::string>() == "community.docker.docker");
  CHECK(hosts["h1"]["ansible_host"].as<std::string>() == "ltb-lab1-h1");
  CHECK_FALSE(hosts["h1"]["ansible_port"]);
  CHECK_FALSE(hosts["h1"]["ansible_user"]);
  // "yes" says (label ltb-sshd) that its image runs sshd: plain ssh.
  CHECK_FALSE(hosts["yes"]["ansible_connection"]);
  CHECK(hosts["yes"]["ansible_port"].as<int>() == 22);
  // FRR: network_cli with the frr.frr collection, as group variables of the kind.
  const auto frr = children["frr"]["vars"];
  CHECK(frr["ansible_connection"].as<std::string>() == "ansible.netcommon.network_cli");
  CHECK(frr["ansible_network_os"].as<std::string>() == "frr.frr.frr");
  CHECK(frr["ansible_host_key_checking"].as<bool>() == false);
  CHECK(frr["ansible_terminal_initial_answer"].as<std::string>() == "vtysh");
  // The answer goes to the root shell's prompt of ltb's FRR image, never to vtysh's own.
  const std::regex shell(frr["ansible_terminal_initial_prompt"].as<std::string>());
  CHECK(std::regex_search("Last login: now\r\nroot@r1:~# ", shell));
  CHECK_FALSE(std::regex_search("Hello, this is FRRouting (version 8.4.4).\r\nr1# ", shell));
  CHECK_FALSE(children["linux"]["vars"]);
  CHECK(children["vm"]["hosts"]["v1"]);
  // containerlab's ansible-group label adds a group.
  CHECK(children["spine"]["hosts"]["yes"]);
}

TEST_CASE("access files: ssh_config leaves out nodes without an ssh server, and names them") {
  TempDir dir;
  const auto text = access::ssh_config_text(sample(dir));
  CHECK(text.find("\nHost h1 ") == std::string::npos);
  CHECK(text.find("# Not here, having no ssh server: h1 (") != std::string::npos);
  CHECK(text.find("\nHost yes lab1-yes\n") != std::string::npos);
  CHECK(text.find("\nHost v1 lab1-v1\n") != std::string::npos);
}

TEST_CASE("access files: node_reach for ltb inspect, from logins.json or the kind's default") {
  TempDir dir;
  const std::string lab_dir = dir.file("labs/lab1");
  const std::vector<state::NodeRecord> records{
      {"lab1", "r1", "frr", "ltb/frr:latest", "h", "172.20.41.2", "c1",
       ltb::state::RecordStatus::running},
      {"lab1", "h1", "linux", "alpine", "h", "172.20.41.3", "c2",
       ltb::state::RecordStatus::running},
      {"lab1", "sw1", "ovs-bridge", "", "h", "", "lb1", ltb::state::RecordStatus::running}};
  auto reach = access::node_reach(lab_dir, records);
  REQUIRE(reach.size() == 2);
  CHECK(reach.at("r1").user == "root");
  CHECK(reach.at("r1").password);
  CHECK(reach.at("r1").identity_files.empty());
  CHECK_FALSE(reach.at("h1").password);

  const auto t = load(dir, "name: lab1\ntopology:\n  nodes:\n    r1: {kind: frr, username: ops}\n"
                           "    h1: {kind: linux, image: alpine, password: pw,\n"
                           "         labels: {ltb-sshd: \"true\"}}\n"
                           "    h2: {kind: linux, image: alpine}\n");
  REQUIRE(access::ensure_lab_key(lab_dir, "lab1"));
  REQUIRE(access::write_logins(lab_dir, t));
  auto with_h2 = records;
  with_h2.push_back({"lab1", "h2", "linux", "alpine", "h", "172.20.41.4", "c3",
                     ltb::state::RecordStatus::running});
  reach = access::node_reach(lab_dir, with_h2);
  CHECK(reach.at("r1").user == "ops");
  CHECK(reach.at("r1").host == "172.20.41.2");
  CHECK(reach.at("r1").port == 22);
  CHECK(reach.at("r1").identity_files == std::vector<std::string>{lab_dir + "/id_ed25519"});
  CHECK(reach.at("h1").password);
  // No ssh server in h2 (a linux node without the label): inspect shows no ssh login for it.
  CHECK(reach.count("h2") == 0);
  const auto logins = access::parse_logins(access::logins_text(t));
  CHECK(logins.at("r1").sshd);
  CHECK(logins.at("h1").sshd);
  CHECK_FALSE(logins.at("h2").sshd);
  // A file of an older ltb, without the field: taken as having one.
  CHECK(access::parse_logins(R"({"nodes": {"x": {"username": "u"}}})").at("x").sshd);
}
