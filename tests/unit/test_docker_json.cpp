#include "runtime/docker/docker_json.hpp"

#include <algorithm>
#include <doctest/doctest.h>
#include <string>

using nlohmann::json;
using namespace ltb::runtime;
using namespace ltb::runtime::docker;

namespace {

// One frame of Docker's multiplexed stream.
std::string frame(char stream, const std::string &payload) {
  std::string header(8, '\0');
  header[0] = stream;
  const auto size = static_cast<std::uint32_t>(payload.size());
  header[4] = static_cast<char>((size >> 24) & 0xff);
  header[5] = static_cast<char>((size >> 16) & 0xff);
  header[6] = static_cast<char>((size >> 8) & 0xff);
  header[7] = static_cast<char>(size & 0xff);
  return header + payload;
}

} // namespace

TEST_CASE("docker json: API version negotiation takes the lower of server and ltb") {
  CHECK(negotiate_api_version("1.41") == "1.41");
  CHECK(negotiate_api_version("1.43") == "1.41");
  CHECK(negotiate_api_version("2.0") == "1.41");
  CHECK(negotiate_api_version("1.40") == "1.40");
  CHECK(negotiate_api_version("1.9") == "1.9");
  CHECK(negotiate_api_version("") == "1.41");
  CHECK(negotiate_api_version("garbage") == "1.41");
}

TEST_CASE("docker json: container create body carries the whole spec") {
  ContainerSpec spec;
  spec.name = "lab-r1";
  spec.hostname = "r1";
  spec.image = "frr:latest";
  spec.cmd = {"sleep", "infinity"};
  spec.env = {{"A", "1"}, {"B", "x=y"}};
  spec.labels = {{"ltb-lab", "lab"}, {"ltb-node", "r1"}};
  spec.binds = {"/tmp/a:/etc/frr:ro"};
  spec.network = "lab-mgmt";
  spec.ipv4 = "172.20.0.5";
  spec.cpus = 1.5;
  spec.memory_bytes = 256 * 1024 * 1024;

  const auto body = container_create_body(spec);
  CHECK(body["Image"] == "frr:latest");
  CHECK(body["Hostname"] == "r1");
  CHECK(body["Cmd"] == json::array({"sleep", "infinity"}));
  CHECK_FALSE(body.contains("Entrypoint"));
  CHECK(body["Env"] == json::array({"A=1", "B=x=y"}));
  CHECK(body["Labels"]["ltb-node"] == "r1");
  // containerlab's terminal and open stdin: `cmd: sh` keeps running.
  CHECK(body["Tty"] == true);
  CHECK(body["OpenStdin"] == true);
  CHECK_FALSE(body.contains("StdinOnce"));
  CHECK(body["HostConfig"]["Binds"] == json::array({"/tmp/a:/etc/frr:ro"}));
  CHECK(body["HostConfig"]["Privileged"] == true);
  CHECK(body["HostConfig"]["NetworkMode"] == "lab-mgmt");
  CHECK(body["HostConfig"]["NanoCpus"] == 1500000000LL);
  CHECK(body["HostConfig"]["Memory"] == 268435456LL);
  CHECK(body["NetworkingConfig"]["EndpointsConfig"]["lab-mgmt"]["IPAMConfig"]["IPv4Address"] ==
        "172.20.0.5");
}

TEST_CASE("docker json: a container without network gets NetworkMode none and no limits") {
  ContainerSpec spec;
  spec.name = "x";
  spec.image = "busybox";
  spec.entrypoint = {"/bin/sh"};
  spec.privileged = false;
  const auto body = container_create_body(spec);
  CHECK(body["HostConfig"]["NetworkMode"] == "none");
  CHECK(body["HostConfig"]["Privileged"] == false);
  CHECK_FALSE(body["HostConfig"].contains("NanoCpus"));
  CHECK_FALSE(body["HostConfig"].contains("Memory"));
  CHECK_FALSE(body.contains("NetworkingConfig"));
  CHECK_FALSE(body.contains("Cmd"));
  CHECK(body["Entrypoint"] == json::array({"/bin/sh"}));
  CHECK(body["Env"] == json::array());
}

TEST_CASE("docker json: containerlab's container options go where Docker reads them") {
  ContainerSpec spec;
  spec.name = "x";
  spec.image = "busybox";
  spec.network = "mgmt";
  spec.ipv4 = "172.20.20.5";
  spec.ipv6 = "3fff:172:20:20::5";
  spec.ports = {{"127.0.0.1", 8080, 80, "tcp"}, {"", 5353, 53, "udp"}};
  spec.healthcheck = ContainerSpec::Health{{"CMD-SHELL", "test -f /ok"}, 1000000000, 0, 0, 2};
  spec.dns_servers = {"192.0.2.53"};
  spec.dns_search = {"lab.example"};
  spec.dns_options = {"ndots:1"};
  spec.sysctls = {{"net.ipv4.ip_forward", "1"}};
  spec.cap_add = {"NET_ADMIN"};
  spec.devices = {"/dev/net/tun"};
  spec.shm_size_bytes = 256 * 1024 * 1024;
  auto body = container_create_body(spec);
  const auto &host = body["HostConfig"];
  CHECK(body["ExposedPorts"] == json({{"80/tcp", json::object()}, {"53/udp", json::object()}}));
  CHECK(host["PortBindings"]["80/tcp"] ==
        json::array({{{"HostIp", "127.0.0.1"}, {"HostPort", "8080"}}}));
  CHECK(host["PortBindings"]["53/udp"] == json::array({{{"HostIp", ""}, {"HostPort", "5353"}}}));
  CHECK(body["Healthcheck"] ==
        json({{"Test", {"CMD-SHELL", "test -f /ok"}}, {"Interval", 1000000000LL}, {"Retries", 2}}));
  CHECK(host["Dns"] == json::array({"192.0.2.53"}));
  CHECK(host["DnsSearch"] == json::array({"lab.example"}));
  CHECK(host["DnsOptions"] == json::array({"ndots:1"}));
  CHECK(host["Sysctls"]["net.ipv4.ip_forward"] == "1");
  CHECK(host["CapAdd"] == json::array({"NET_ADMIN"}));
  CHECK(host["Devices"] == json::array({{{"PathOnHost", "/dev/net/tun"},
                                         {"PathInContainer", "/dev/net/tun"},
                                         {"CgroupPermissions", "rwm"}}}));
  CHECK(host["ShmSize"] == 268435456LL);
  CHECK(body["NetworkingConfig"]["EndpointsConfig"]["mgmt"]["IPAMConfig"] ==
        json({{"IPv4Address", "172.20.20.5"}, {"IPv6Address", "3fff:172:20:20::5"}}));

  // network-mode: Docker's mode, no endpoint on the management network, no own hostname.
  spec.hostname = "x";
  spec.network_mode = "container:abc";
  body = container_create_body(spec);
  CHECK(body["HostConfig"]["NetworkMode"] == "container:abc");
  CHECK_FALSE(body.contains("NetworkingConfig"));
  CHECK_FALSE(body.contains("Hostname"));
  spec.network_mode = "none";
  body = container_create_body(spec);
  CHECK(body["HostConfig"]["NetworkMode"] == "none");
  CHECK(body["Hostname"] == "x");
}

TEST_CASE("docker json: a container's health from inspect and from the list") {
  auto info = parse_container_inspect(
      json::parse(R"j({"Id":"a","State":{"Status":"running","Pid":5,"Health":{"Status":
                    "unhealthy","FailingStreak":3}}})j"));
  CHECK(info.health == "unhealthy");
  CHECK(parse_container_inspect(json::parse(R"j({"Id":"a","State":{"Status":"running"}})j"))
            .health.empty());
  CHECK(parse_container_summary(json::parse(R"j({"Id":"a","State":"running","Status":
                                            "Up 3 seconds (health: starting)"})j"))
            .health == "starting");
  CHECK(parse_container_summary(
            json::parse(R"j({"Id":"a","State":"running","Status":"Up 1 minute (healthy)"})j"))
            .health == "healthy");
  CHECK(parse_container_summary(
            json::parse(R"j({"Id":"a","State":"running","Status":"Up 1 minute (unhealthy)"})j"))
            .health == "unhealthy");
  CHECK(parse_container_summary(
            json::parse(R"j({"Id":"a","State":"running","Status":"Up 1 minute"})j"))
            .health.empty());
}

TEST_CASE("docker json: privileges follow the host's capability bounding set") {
  const std::uint64_t all = (std::uint64_t{1} << 41) - 1;
  CHECK(privileges_for(all, 40).full);

  // As on the CI machines: everything but CAP_SYS_RESOURCE (24).
  const auto limited = privileges_for(all & ~(std::uint64_t{1} << 24), 40);
  CHECK_FALSE(limited.full);
  CHECK(limited.capabilities.size() == 37); // 0..37 known to Docker 20.10, minus one
  CHECK(limited.capabilities.front() == "CHOWN");
  CHECK(limited.capabilities.back() == "AUDIT_READ");
  CHECK(std::find(limited.capabilities.begin(), limited.capabilities.end(), "SYS_RESOURCE") ==
        limited.capabilities.end());
  CHECK(std::find(limited.capabilities.begin(), limited.capabilities.end(), "NET_ADMIN") !=
        limited.capabilities.end());

  ContainerSpec spec;
  spec.name = "x";
  spec.image = "i";
  auto body = container_create_body(spec, limited);
  CHECK(body["HostConfig"]["Privileged"] == false);
  CHECK(body["HostConfig"]["CapAdd"].size() == 37);
  CHECK(body["HostConfig"]["SecurityOpt"] ==
        json::array({"seccomp=unconfined", "apparmor=unconfined", "label=disable"}));
  CHECK(body["HostConfig"]["MaskedPaths"] == json::array());
  CHECK(body["HostConfig"]["ReadonlyPaths"] == json::array());

  body = container_create_body(spec, privileges_for(all, 40));
  CHECK(body["HostConfig"]["Privileged"] == true);
  CHECK_FALSE(body["HostConfig"].contains("CapAdd"));

  // An unprivileged container stays unprivileged either way.
  spec.privileged = false;
  body = container_create_body(spec, limited);
  CHECK(body["HostConfig"]["Privileged"] == false);
  CHECK_FALSE(body["HostConfig"].contains("CapAdd"));
}

TEST_CASE("docker json: network create body") {
  NetworkSpec spec;
  spec.name = "lab-mgmt";
  spec.subnet = "172.20.0.0/24";
  spec.gateway = "172.20.0.1";
  spec.labels = {{"ltb-lab", "lab"}};
  auto body = network_create_body(spec);
  CHECK(body["Name"] == "lab-mgmt");
  CHECK(body["Driver"] == "bridge");
  CHECK(body["Internal"] == true);
  CHECK(body["CheckDuplicate"] == true);
  CHECK(body["IPAM"]["Config"] ==
        json::array({{{"Subnet", "172.20.0.0/24"}, {"Gateway", "172.20.0.1"}}}));
  CHECK(body["Labels"]["ltb-lab"] == "lab");
  CHECK(body["Options"].empty());

  spec.bridge_name = "ltb-br0";
  spec.internal = false;
  body = network_create_body(spec);
  CHECK(body["Options"]["com.docker.network.bridge.name"] == "ltb-br0");
  CHECK(body["Internal"] == false);
  CHECK_FALSE(body.contains("EnableIPv6"));

  // Dual stack: IPv6 enabled, with its subnet (and gateway, when given) as a second config.
  spec.subnet6 = "3fff:172:20:20::/64";
  body = network_create_body(spec);
  CHECK(body["EnableIPv6"] == true);
  CHECK(body["IPAM"]["Config"] ==
        json::array({{{"Subnet", "172.20.0.0/24"}, {"Gateway", "172.20.0.1"}},
                     {{"Subnet", "3fff:172:20:20::/64"}}}));
  spec.gateway6 = "3fff:172:20:20::fe";
  body = network_create_body(spec);
  CHECK(body["IPAM"]["Config"][1]["Gateway"] == "3fff:172:20:20::fe");
}

TEST_CASE("docker json: IPv6 addresses of containers and networks") {
  const auto inspect = json::parse(R"({
    "Id": "abc", "Name": "/x", "State": {"Status": "running", "Pid": 7},
    "NetworkSettings": {"Networks": {"m": {"IPAddress": "10.0.0.9",
                                           "GlobalIPv6Address": "3fff:1::9"}}}
  })");
  CHECK(parse_container_inspect(inspect).ipv6 == "3fff:1::9");
  // A stopped one: the address it asked for.
  const auto stopped = json::parse(R"({
    "Id": "abc", "Name": "/x", "State": {"Status": "created", "Pid": 0},
    "NetworkSettings": {"Networks": {"m": {"IPAMConfig": {"IPv6Address": "3fff:1::11"},
                                           "GlobalIPv6Address": ""}}}
  })");
  CHECK(parse_container_inspect(stopped).ipv6 == "3fff:1::11");
  // A dual-stack network lists either family first; the IPv4 one is `subnet`.
  const auto network = json::parse(R"({
    "Name": "bridge", "Id": "n2", "EnableIPv6": true,
    "IPAM": {"Config": [{"Subnet": "fd00:1::/64", "Gateway": "fd00:1::1"},
                        {"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]}
  })");
  const auto info = parse_network(network);
  CHECK(info.subnet == "172.17.0.0/16");
  CHECK(info.gateway == "172.17.0.1");
  CHECK(info.subnet6 == "fd00:1::/64");
  CHECK(info.gateway6 == "fd00:1::1");
}

TEST_CASE("docker json: inspect gives pid, state, name and management address") {
  const auto inspect = json::parse(R"({
    "Id": "abc123", "Name": "/lab-r1",
    "State": {"Status": "running", "Running": true, "Pid": 4242},
    "Config": {"Image": "frr:latest", "Labels": {"ltb-lab": "lab"}},
    "NetworkSettings": {"Networks": {"lab-mgmt": {"IPAMConfig": {"IPv4Address": "172.20.0.5"},
                                                  "IPAddress": "172.20.0.5"}}}
  })");
  const auto info = parse_container_inspect(inspect);
  CHECK(info.id == "abc123");
  CHECK(info.name == "lab-r1");
  CHECK(info.state == "running");
  CHECK(info.pid == 4242);
  CHECK(info.image == "frr:latest");
  CHECK(info.labels.at("ltb-lab") == "lab");
  CHECK(info.ipv4 == "172.20.0.5");
}

TEST_CASE("docker json: a stopped container reports the address it asked for") {
  const auto inspect = json::parse(R"({
    "Id": "abc", "Name": "/x", "State": {"Status": "created", "Pid": 0},
    "Config": {"Image": "i", "Labels": null},
    "NetworkSettings": {"Networks": {"m": {"IPAMConfig": {"IPv4Address": "10.0.0.9"},
                                           "IPAddress": ""}}}
  })");
  const auto info = parse_container_inspect(inspect);
  CHECK(info.state == "created");
  CHECK(info.pid == 0);
  CHECK(info.labels.empty());
  CHECK(info.ipv4 == "10.0.0.9");
}

TEST_CASE("docker json: container list entries") {
  const auto summary = json::parse(R"({
    "Id": "def", "Names": ["/lab-r2"], "Image": "busybox", "State": "exited",
    "Labels": {"ltb-lab": "lab", "ltb-node": "r2"},
    "NetworkSettings": {"Networks": {"none": {"IPAddress": ""}}}
  })");
  const auto info = parse_container_summary(summary);
  CHECK(info.id == "def");
  CHECK(info.name == "lab-r2");
  CHECK(info.state == "exited");
  CHECK(info.labels.size() == 2);
  CHECK(info.ipv4.empty());
}

TEST_CASE("docker json: network list entries") {
  const auto network = json::parse(R"({
    "Name": "lab-mgmt", "Id": "n1", "Labels": {"ltb-lab": "lab"},
    "IPAM": {"Driver": "default", "Config": [{"Subnet": "172.20.0.0/24", "Gateway": "172.20.0.1"}]}
  })");
  const auto info = parse_network(network);
  CHECK(info.name == "lab-mgmt");
  CHECK(info.id == "n1");
  CHECK(info.subnet == "172.20.0.0/24");
  CHECK(info.labels.at("ltb-lab") == "lab");
}

TEST_CASE("docker json: label filters and encoding") {
  CHECK(label_filters({{"ltb-lab", "a b"}, {"ltb-node", "r1"}}) ==
        R"({"label":["ltb-lab=a b","ltb-node=r1"]})");
  CHECK(label_filters({}) == R"({"label":[]})");
  CHECK(url_encode(R"({"label":["a=b"]})") == "%7B%22label%22%3A%5B%22a%3Db%22%5D%7D");
  CHECK(path_encode("registry:5000/ltb/frr:9.1") == "registry:5000/ltb/frr:9.1");
  CHECK(path_encode("a b?") == "a%20b%3F");
}

TEST_CASE("docker json: API error bodies give their message verbatim") {
  CHECK(api_error_message(R"({"message":"No such image: frr:latest"})") ==
        "No such image: frr:latest");
  CHECK(api_error_message("plain text\n") == "plain text");
  CHECK(api_error_message("") == "no details given");
}

TEST_CASE("docker json: image references split into fromImage and tag") {
  CHECK(split_image("busybox").from_image == "busybox");
  CHECK(split_image("busybox").tag == "latest");
  CHECK(split_image("frr/frr:9.1").from_image == "frr/frr");
  CHECK(split_image("frr/frr:9.1").tag == "9.1");
  CHECK(split_image("reg:5000/frr").from_image == "reg:5000/frr");
  CHECK(split_image("reg:5000/frr").tag == "latest");
  CHECK(split_image("frr@sha256:00").from_image == "frr@sha256:00");
  CHECK(split_image("frr@sha256:00").tag.empty());
}

TEST_CASE("docker json: pull stream lines") {
  auto progress = parse_pull_line(
      R"({"status":"Downloading","progressDetail":{"current":1,"total":2},"progress":"[=>  ] 1B/2B","id":"a1b2"})");
  REQUIRE(progress);
  CHECK_FALSE(progress->error);
  CHECK(progress->text == "Downloading a1b2 [=>  ] 1B/2B");

  auto status = parse_pull_line(R"({"status":"Pulling from library/busybox","id":"latest"})");
  REQUIRE(status);
  CHECK(status->text == "Pulling from library/busybox latest");

  auto error =
      parse_pull_line(R"({"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"})"
                      "\r");
  REQUIRE(error);
  REQUIRE(error->error);
  CHECK(*error->error == "manifest unknown");

  CHECK_FALSE(parse_pull_line(""));
  CHECK_FALSE(parse_pull_line(R"({"progressDetail":{}})"));
}

TEST_CASE("docker json: the exec stream is demultiplexed into stdout and stderr") {
  const auto stream = frame(1, "hello ") + frame(2, "oops\n") + frame(1, "world\n") + frame(2, "");
  SUBCASE("in one piece") {
    StreamDemux demux;
    demux.feed(stream);
    CHECK(demux.out == "hello world\n");
    CHECK(demux.err == "oops\n");
    CHECK_FALSE(demux.incomplete());
  }
  SUBCASE("one byte at a time, cutting headers") {
    StreamDemux demux;
    for (const char c : stream) {
      demux.feed(std::string_view(&c, 1));
    }
    CHECK(demux.out == "hello world\n");
    CHECK(demux.err == "oops\n");
    CHECK_FALSE(demux.incomplete());
  }
  SUBCASE("a large frame and a truncated end") {
    const std::string big(70000, 'x');
    StreamDemux demux;
    const auto data = frame(1, big) + frame(2, "partial");
    demux.feed(std::string_view(data).substr(0, data.size() - 3));
    CHECK(demux.out == big);
    CHECK(demux.err == "part");
    CHECK(demux.incomplete());
  }
}

TEST_CASE("docker json: images from inspect and from the list, labels and created time") {
  const auto inspected = parse_image(json::parse(R"({
    "Id": "sha256:abc", "RepoTags": ["ltb/frr:latest"], "Size": 123456,
    "Created": "2026-12-06T12:00:00.5Z",
    "Config": {"Labels": {"org.opencontainers.image.version": "8.4.4", "ltb.recipe": "aa"}}})"));
  CHECK(inspected.id == "sha256:abc");
  CHECK(inspected.tags == std::vector<std::string>{"ltb/frr:latest"});
  CHECK(inspected.size_bytes == 123456);
  CHECK(inspected.created == "2026-12-06T12:00:00.5Z");
  CHECK(inspected.labels.at("org.opencontainers.image.version") == "8.4.4");
  // The list has the labels at the top, the time in seconds, and "<none>:<none>" for untagged.
  const auto listed = parse_image(json::parse(R"({
    "Id": "sha256:def", "RepoTags": ["<none>:<none>"], "Size": 7, "Created": 0,
    "Labels": {"ltb.recipe": "bb"}})"));
  CHECK(listed.tags.empty());
  CHECK(listed.created == "1970-01-01T00:00:00Z");
  CHECK(listed.labels.at("ltb.recipe") == "bb");
  // Config.Labels null: no labels.
  CHECK(parse_image(json::parse(R"({"Id": "x", "Config": {"Labels": null}})")).labels.empty());
  CHECK(image_filters({}) == "{}");
  CHECK(image_filters({{"ltb.recipe", ""}}) == R"({"label":["ltb.recipe"]})");
}

TEST_CASE("docker json: what an image load says it loaded, or its error") {
  auto by_id = parse_load_output(
      "{\"stream\":\"Loaded image ID: sha256:0123abcd\\n\"}\r\n{\"stream\":\"Loaded image: "
      "ltb-snapshot:lab.s1.r1-deadbeef\\n\"}");
  CHECK(by_id.loaded ==
        std::vector<std::string>{"sha256:0123abcd", "ltb-snapshot:lab.s1.r1-deadbeef"});
  CHECK_FALSE(by_id.error);
  auto failed = parse_load_output(
      "{\"errorDetail\":{\"message\":\"unexpected EOF\"},\"error\":\"unexpected EOF\"}\n");
  CHECK(failed.loaded.empty());
  REQUIRE(failed.error);
  CHECK(*failed.error == "unexpected EOF");
  CHECK(parse_load_output("").loaded.empty());
}

// Found while fuzzing runtime/docker (fuzz_docker_json): value() threw on a member of another
// type, in the daemon's thread that follows Docker's events, and a `time` in seconds past
// 2262 overflowed when made nanoseconds (undefined behaviour).
TEST_CASE("docker json: an event of any shape is read without throwing or overflowing") {
  for (const char *line : {R"({"Type": 5, "Action": "die", "Actor": {"ID": "c1"}})",
                           R"({"Type": "container", "Action": ["die"], "Actor": {"ID": "c1"}})",
                           R"({"Type": "container", "Action": "die", "Actor": {"ID": 7}})",
                           R"({"Type": "container", "Action": "die", "id": null})"}) {
    CAPTURE(line);
    CHECK_FALSE(parse_container_event(line));
  }
  const auto late = parse_container_event(
      R"({"Type": "container", "Action": "die", "time": 9223372036854775807, "Actor": {"ID": "c1"}})");
  REQUIRE(late);
  CHECK(late->time_ns == 0);
  const auto fine = parse_container_event(
      R"({"Type": "container", "Action": "die", "time": 1700000000, "Actor": {"ID": "c1"}})");
  REQUIRE(fine);
  CHECK(fine->time_ns == 1700000000LL * 1000000000LL);
  CHECK(fine->id == "c1");
}
