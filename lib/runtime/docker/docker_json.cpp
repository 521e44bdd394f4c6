#include "runtime/docker/docker_json.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fmt/format.h>
#include <fstream>
#include <limits>

namespace ltb::runtime::docker {
namespace {

using nlohmann::json;

std::string string_at(const json &object, const char *key) {
  if (!object.is_object()) {
    return {};
  }
  const auto it = object.find(key);
  if (it == object.end() || !it->is_string()) {
    return {};
  }
  return it->get<std::string>();
}

std::map<std::string, std::string> string_map(const json &object) {
  std::map<std::string, std::string> result;
  if (!object.is_object()) {
    return result;
  }
  for (const auto &[key, value] : object.items()) {
    if (value.is_string()) {
      result.emplace(key, value.get<std::string>());
    }
  }
  return result;
}

// A container is on at most one network here (the management one, or none). While it is not
// running Docker reports no address, so fall back to the one that was asked for: the address of
// one family is Docker's KEY (IPAddress, GlobalIPv6Address), else IPAMConfig's REQUESTED.
std::string management_address(const json &networks, const char *key, const char *requested) {
  if (!networks.is_object()) {
    return {};
  }
  for (const auto &[name, endpoint] : networks.items()) {
    auto address = string_at(endpoint, key);
    if (address.empty() && endpoint.contains("IPAMConfig")) {
      address = string_at(endpoint["IPAMConfig"], requested);
    }
    if (!address.empty()) {
      return address;
    }
  }
  return {};
}

std::string management_ipv4(const json &networks) {
  return management_address(networks, "IPAddress", "IPv4Address");
}

std::string management_ipv6(const json &networks) {
  return management_address(networks, "GlobalIPv6Address", "IPv6Address");
}

bool parse_version(std::string_view text, int &major, int &minor) {
  const std::string copy(text);
  char trailing = 0;
  return std::sscanf(copy.c_str(), "%d.%d%c", &major, &minor, &trailing) == 2 && major >= 0 &&
         minor >= 0;
}

std::string encode(std::string_view text, std::string_view keep) {
  std::string result;
  result.reserve(text.size());
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '-' || c == '_' || c == '.' || c == '~' ||
        keep.find(c) != std::string_view::npos) {
      result += c;
    } else {
      result += fmt::format("%{:02X}", u);
    }
  }
  return result;
}

} // namespace

std::string negotiate_api_version(std::string_view server_api_version) {
  int max_major = 0;
  int max_minor = 0;
  parse_version(k_max_api_version, max_major, max_minor);
  int major = 0;
  int minor = 0;
  if (!parse_version(server_api_version, major, minor)) {
    return std::string(k_max_api_version);
  }
  if (major > max_major || (major == max_major && minor > max_minor)) {
    return std::string(k_max_api_version);
  }
  return fmt::format("{}.{}", major, minor);
}

std::string url_encode(std::string_view text) {
  return encode(text, "");
}

std::string path_encode(std::string_view text) {
  return encode(text, "/:@");
}

std::string label_filters(const std::map<std::string, std::string> &labels) {
  auto list = json::array();
  for (const auto &[key, value] : labels) {
    list.push_back(key + "=" + value);
  }
  return json{{"label", list}}.dump();
}

std::string event_filters(const std::map<std::string, std::string> &labels) {
  auto list = json::array();
  for (const auto &[key, value] : labels) {
    list.push_back(value.empty() ? key : key + "=" + value);
  }
  return json{{"type", json::array({"container"})}, {"label", list}}.dump();
}

std::optional<ContainerEvent> parse_container_event(std::string_view line) {
  // string_at, not value(): value() throws on a member of another type, and this runs in the
  // daemon's thread that follows Docker's events.
  auto j = json::parse(line, nullptr, false);
  if (!j.is_object() || string_at(j, "Type") != "container") {
    return std::nullopt;
  }
  ContainerEvent event;
  event.action = string_at(j, "Action");
  constexpr std::int64_t k_ns = 1000000000;
  if (j.contains("timeNano") && j["timeNano"].is_number_integer()) {
    event.time_ns = j["timeNano"].get<std::int64_t>();
  } else if (j.contains("time") && j["time"].is_number_integer() &&
             j["time"].get<std::int64_t>() >= 0 &&
             j["time"].get<std::int64_t>() <= std::numeric_limits<std::int64_t>::max() / k_ns) {
    event.time_ns = j["time"].get<std::int64_t>() * k_ns;
  }
  if (j.contains("Actor") && j["Actor"].is_object()) {
    const auto &actor = j["Actor"];
    event.id = string_at(actor, "ID");
    if (actor.contains("Attributes") && actor["Attributes"].is_object()) {
      for (const auto &[key, value] : actor["Attributes"].items()) {
        if (value.is_string()) {
          event.attributes[key] = value.get<std::string>();
        }
      }
    }
  }
  if (event.id.empty()) {
    event.id = string_at(j, "id");
  }
  if (event.action.empty() || event.id.empty()) {
    return std::nullopt;
  }
  return event;
}

std::vector<std::string> LineSplitter::feed(std::string_view data) {
  std::vector<std::string> lines;
  m_pending.append(data);
  std::size_t start = 0;
  for (auto nl = m_pending.find('\n'); nl != std::string::npos; nl = m_pending.find('\n', start)) {
    std::string line = m_pending.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    if (!line.empty()) {
      lines.push_back(std::move(line));
    }
    start = nl + 1;
  }
  m_pending.erase(0, start);
  return lines;
}

Privileges privileges_for(std::uint64_t bounding_set, int cap_last_cap) {
  // Capability numbers 0..37 as Docker 20.10 names them for CapAdd (it rejects newer ones).
  static constexpr std::array<const char *, 38> k_names{"CHOWN",
                                                        "DAC_OVERRIDE",
                                                        "DAC_READ_SEARCH",
                                                        "FOWNER",
                                                        "FSETID",
                                                        "KILL",
                                                        "SETGID",
                                                        "SETUID",
                                                        "SETPCAP",
                                                        "LINUX_IMMUTABLE",
                                                        "NET_BIND_SERVICE",
                                                        "NET_BROADCAST",
                                                        "NET_ADMIN",
                                                        "NET_RAW",
                                                        "IPC_LOCK",
                                                        "IPC_OWNER",
                                                        "SYS_MODULE",
                                                        "SYS_RAWIO",
                                                        "SYS_CHROOT",
                                                        "SYS_PTRACE",
                                                        "SYS_PACCT",
                                                        "SYS_ADMIN",
                                                        "SYS_BOOT",
                                                        "SYS_NICE",
                                                        "SYS_RESOURCE",
                                                        "SYS_TIME",
                                                        "SYS_TTY_CONFIG",
                                                        "MKNOD",
                                                        "LEASE",
                                                        "AUDIT_WRITE",
                                                        "AUDIT_CONTROL",
                                                        "SETFCAP",
                                                        "MAC_OVERRIDE",
                                                        "MAC_ADMIN",
                                                        "SYSLOG",
                                                        "WAKE_ALARM",
                                                        "BLOCK_SUSPEND",
                                                        "AUDIT_READ"};
  const int last = std::clamp(cap_last_cap, 0, 63);
  bool all = true;
  for (int bit = 0; bit <= last; ++bit) {
    if ((bounding_set & (std::uint64_t{1} << bit)) == 0) {
      all = false;
    }
  }
  Privileges privileges;
  if (all) {
    return privileges;
  }
  privileges.full = false;
  for (std::size_t bit = 0; bit < k_names.size() && static_cast<int>(bit) <= last; ++bit) {
    if ((bounding_set & (std::uint64_t{1} << bit)) != 0) {
      privileges.capabilities.emplace_back(k_names[bit]);
    }
  }
  return privileges;
}

Privileges host_privileges() {
  std::uint64_t bounding = ~std::uint64_t{0};
  int last = 40;
  if (std::ifstream status("/proc/self/status"); status) {
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("CapBnd:", 0) == 0) {
        bounding = std::stoull(line.substr(7), nullptr, 16);
      }
    }
  }
  if (std::ifstream cap_last("/proc/sys/kernel/cap_last_cap"); cap_last) {
    cap_last >> last;
  }
  return privileges_for(bounding, last);
}

/// The processes (and threads) a confined node may have at once.
constexpr int k_confined_pids_limit = 4096;

json confined_seccomp_profile() {
  static const std::array<const char *, 59> k_denied{"_sysctl",
                                                     "acct",
                                                     "add_key",
                                                     "bpf",
                                                     "clock_adjtime",
                                                     "clock_settime",
                                                     "create_module",
                                                     "delete_module",
                                                     "fanotify_init",
                                                     "finit_module",
                                                     "fsconfig",
                                                     "fsmount",
                                                     "fsopen",
                                                     "fspick",
                                                     "get_kernel_syms",
                                                     "init_module",
                                                     "io_uring_enter",
                                                     "io_uring_register",
                                                     "io_uring_setup",
                                                     "ioperm",
                                                     "iopl",
                                                     "kexec_file_load",
                                                     "kexec_load",
                                                     "keyctl",
                                                     "lookup_dcookie",
                                                     "mbind",
                                                     "migrate_pages",
                                                     "mount",
                                                     "mount_setattr",
                                                     "move_mount",
                                                     "move_pages",
                                                     "name_to_handle_at",
                                                     "nfsservctl",
                                                     "open_by_handle_at",
                                                     "open_tree",
                                                     "perf_event_open",
                                                     "pivot_root",
                                                     "query_module",
                                                     "quotactl",
                                                     "quotactl_fd",
                                                     "reboot",
                                                     "request_key",
                                                     "set_mempolicy",
                                                     "setns",
                                                     "settimeofday",
                                                     "stime",
                                                     "swapoff",
                                                     "swapon",
                                                     "syslog",
                                                     "sysfs",
                                                     "umount",
                                                     "umount2",
                                                     "unshare",
                                                     "uselib",
                                                     "userfaultfd",
                                                     "ustat",
                                                     "vhangup",
                                                     "vm86",
                                                     "vm86old"};
  // CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET: one rule each, since a rule's
  // argument test is (flags & mask) == value.
  static const std::array<std::uint64_t, 7> k_clone_new{
      0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000};
  constexpr int k_eperm = 1;
  constexpr int k_enosys = 38;
  json syscalls = json::array();
  syscalls.push_back({{"names", k_denied}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", k_eperm}});
  for (const auto flag : k_clone_new) {
    syscalls.push_back(
        {{"names", {"clone"}},
         {"action", "SCMP_ACT_ERRNO"},
         {"errnoRet", k_eperm},
         {"args",
          {{{"index", 0}, {"value", flag}, {"valueTwo", flag}, {"op", "SCMP_CMP_MASKED_EQ"}}}}});
  }
  // clone3 passes its flags in memory, out of a filter's reach: ENOSYS makes libc use clone.
  syscalls.push_back({{"names", {"clone3"}}, {"action", "SCMP_ACT_ERRNO"}, {"errnoRet", k_enosys}});
  return {{"defaultAction", "SCMP_ACT_ALLOW"},
          {"architectures", {"SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"}},
          {"syscalls", syscalls}};
}

json container_create_body(const ContainerSpec &spec, const Privileges &privileges) {
  json body = json::object();
  body["Image"] = spec.image;
  if (!spec.hostname.empty()) {
    body["Hostname"] = spec.hostname;
  }
  if (!spec.cmd.empty()) {
    body["Cmd"] = spec.cmd;
  }
  if (!spec.entrypoint.empty()) {
    body["Entrypoint"] = spec.entrypoint;
  }
  auto env = json::array();
  for (const auto &[key, value] : spec.env) {
    env.push_back(key + "=" + value);
  }
  body["Env"] = env;
  body["Labels"] = spec.labels;
  // As containerlab makes every node: a terminal and an open stdin, so that a shell as the
  // command (`cmd: sh`, busybox's default) waits for input instead of exiting at once. No
  // StdinOnce: nothing attaches, and stdin stays open for the container's life.
  body["Tty"] = true;
  body["OpenStdin"] = true;
  if (spec.healthcheck) {
    const auto &h = *spec.healthcheck;
    json health = {{"Test", h.test}};
    if (h.interval_ns > 0) {
      health["Interval"] = h.interval_ns;
    }
    if (h.timeout_ns > 0) {
      health["Timeout"] = h.timeout_ns;
    }
    if (h.start_period_ns > 0) {
      health["StartPeriod"] = h.start_period_ns;
    }
    if (h.retries > 0) {
      health["Retries"] = h.retries;
    }
    body["Healthcheck"] = health;
  }
  if (!spec.ports.empty()) {
    json exposed = json::object();
    json bindings = json::object();
    for (const auto &port : spec.ports) {
      const auto key = fmt::format("{}/{}", port.port, port.protocol);
      exposed[key] = json::object();
      bindings[key].push_back(
          {{"HostIp", port.host_ip}, {"HostPort", std::to_string(port.host_port)}});
    }
    body["ExposedPorts"] = exposed;
    body["HostConfig"]["PortBindings"] = bindings;
  }

  json host = body.contains("HostConfig") ? body["HostConfig"] : json::object();
  host["Binds"] = spec.binds;
  if (spec.confined) {
    // Nothing of Privileges applies: a confined node gets what its kind lists and no more.
    host["Privileged"] = false;
    host["CapDrop"] = {"ALL"};
    host["CapAdd"] = spec.capabilities;
    auto security = json::array({"no-new-privileges"});
    if (std::find(spec.capabilities.begin(), spec.capabilities.end(), "SYS_ADMIN") !=
        spec.capabilities.end()) {
      security.push_back("seccomp=" + confined_seccomp_profile().dump());
    }
    host["SecurityOpt"] = security;
    host["IpcMode"] = "private";
    // Docker's default on a cgroup v1 host is the host's cgroup namespace.
    host["CgroupnsMode"] = "private";
    // A fork bomb in a user's node stops at its own limit, not at the host's.
    host["PidsLimit"] = k_confined_pids_limit;
  } else if (spec.privileged && !privileges.full) {
    host["Privileged"] = false;
    host["CapAdd"] = privileges.capabilities;
    host["SecurityOpt"] = {"seccomp=unconfined", "apparmor=unconfined", "label=disable"};
    // What the CLI's "systempaths=unconfined" becomes: /proc/sys writable (routers set sysctls).
    host["MaskedPaths"] = json::array();
    host["ReadonlyPaths"] = json::array();
  } else {
    host["Privileged"] = spec.privileged;
  }
  if (!spec.cap_add.empty()) {
    auto caps = host.contains("CapAdd") ? host["CapAdd"] : json::array();
    for (const auto &cap : spec.cap_add) {
      if (std::find(caps.begin(), caps.end(), cap) == caps.end()) {
        caps.push_back(cap);
      }
    }
    host["CapAdd"] = caps;
  }
  if (!spec.devices.empty()) {
    auto devices = json::array();
    for (const auto &device : spec.devices) {
      devices.push_back(
          {{"PathOnHost", device}, {"PathInContainer", device}, {"CgroupPermissions", "rwm"}});
    }
    host["Devices"] = devices;
  }
  if (spec.shm_size_bytes > 0) {
    host["ShmSize"] = spec.shm_size_bytes;
  }
  if (!spec.dns_servers.empty()) {
    host["Dns"] = spec.dns_servers;
  }
  if (!spec.dns_search.empty()) {
    host["DnsSearch"] = spec.dns_search;
  }
  if (!spec.dns_options.empty()) {
    host["DnsOptions"] = spec.dns_options;
  }
  if (!spec.sysctls.empty()) {
    host["Sysctls"] = spec.sysctls;
  }
  const bool own_mode = !spec.network_mode.empty();
  host["NetworkMode"] = own_mode               ? spec.network_mode
                        : spec.network.empty() ? std::string("none")
                                               : spec.network;
  if (spec.cpus > 0) {
    host["NanoCpus"] = static_cast<std::int64_t>(std::llround(spec.cpus * 1e9));
  }
  if (spec.memory_bytes > 0) {
    host["Memory"] = spec.memory_bytes;
  }
  body["HostConfig"] = host;

  if (own_mode) {
    // A node in another's namespace (or the host's) has that one's hostname and network.
    if (spec.network_mode.rfind("container:", 0) == 0 || spec.network_mode == "host") {
      body.erase("Hostname");
    }
  } else if (!spec.network.empty()) {
    json endpoint = json::object();
    json ipam = json::object();
    if (!spec.ipv4.empty()) {
      ipam["IPv4Address"] = spec.ipv4;
    }
    if (!spec.ipv6.empty()) {
      ipam["IPv6Address"] = spec.ipv6;
    }
    if (!ipam.empty()) {
      endpoint["IPAMConfig"] = ipam;
    }
    body["NetworkingConfig"] = {{"EndpointsConfig", {{spec.network, endpoint}}}};
  }
  return body;
}

json network_create_body(const NetworkSpec &spec) {
  json body = json::object();
  body["Name"] = spec.name;
  body["Driver"] = "bridge";
  body["Internal"] = spec.internal;
  body["CheckDuplicate"] = true;
  body["Labels"] = spec.labels;
  json ipam = {{"Driver", "default"}, {"Config", json::array()}};
  if (!spec.subnet.empty()) {
    json config = {{"Subnet", spec.subnet}};
    if (!spec.gateway.empty()) {
      config["Gateway"] = spec.gateway;
    }
    ipam["Config"].push_back(config);
  }
  if (!spec.subnet6.empty()) {
    json config = {{"Subnet", spec.subnet6}};
    if (!spec.gateway6.empty()) {
      config["Gateway"] = spec.gateway6;
    }
    ipam["Config"].push_back(config);
    body["EnableIPv6"] = true;
  }
  body["IPAM"] = ipam;
  json options = json::object();
  if (!spec.bridge_name.empty()) {
    options["com.docker.network.bridge.name"] = spec.bridge_name;
  }
  body["Options"] = options;
  return body;
}

json exec_create_body(const std::vector<std::string> &argv) {
  return {{"AttachStdin", false},
          {"AttachStdout", true},
          {"AttachStderr", true},
          {"Tty", false},
          {"Cmd", argv}};
}

ContainerInfo parse_container_inspect(const json &inspect) {
  ContainerInfo info;
  info.id = string_at(inspect, "Id");
  info.name = string_at(inspect, "Name");
  if (!info.name.empty() && info.name.front() == '/') {
    info.name.erase(0, 1);
  }
  if (inspect.contains("Config")) {
    const auto &config = inspect["Config"];
    info.image = string_at(config, "Image");
    if (config.contains("Labels")) {
      info.labels = string_map(config["Labels"]);
    }
  }
  if (inspect.contains("State")) {
    const auto &state = inspect["State"];
    info.state = string_at(state, "Status");
    if (state.contains("Health") && state["Health"].is_object()) {
      info.health = string_at(state["Health"], "Status");
    }
    if (state.contains("Pid") && state["Pid"].is_number_integer()) {
      info.pid = state["Pid"].get<int>();
    }
  }
  if (inspect.contains("NetworkSettings") && inspect["NetworkSettings"].contains("Networks")) {
    info.ipv4 = management_ipv4(inspect["NetworkSettings"]["Networks"]);
    info.ipv6 = management_ipv6(inspect["NetworkSettings"]["Networks"]);
  }
  return info;
}

ContainerInfo parse_container_summary(const json &summary) {
  ContainerInfo info;
  info.id = string_at(summary, "Id");
  if (summary.contains("Names") && summary["Names"].is_array() && !summary["Names"].empty() &&
      summary["Names"][0].is_string()) {
    info.name = summary["Names"][0].get<std::string>();
    if (!info.name.empty() && info.name.front() == '/') {
      info.name.erase(0, 1);
    }
  }
  info.image = string_at(summary, "Image");
  info.state = string_at(summary, "State");
  // The list has no health field: Status says it, "Up 5 seconds (unhealthy)".
  const auto status = string_at(summary, "Status");
  for (const char *health : {"(healthy)", "(unhealthy)", "(health: starting)"}) {
    if (status.find(health) != std::string::npos) {
      info.health = std::string(health) == "(healthy)"     ? "healthy"
                    : std::string(health) == "(unhealthy)" ? "unhealthy"
                                                           : "starting";
    }
  }
  if (summary.contains("Labels")) {
    info.labels = string_map(summary["Labels"]);
  }
  if (summary.contains("NetworkSettings") && summary["NetworkSettings"].contains("Networks")) {
    info.ipv4 = management_ipv4(summary["NetworkSettings"]["Networks"]);
    info.ipv6 = management_ipv6(summary["NetworkSettings"]["Networks"]);
  }
  return info;
}

ImageInfo parse_image(const json &image) {
  ImageInfo info;
  info.id = string_at(image, "Id");
  if (image.contains("RepoTags") && image["RepoTags"].is_array()) {
    for (const auto &tag : image["RepoTags"]) {
      // An untagged image lists "<none>:<none>" in older APIs.
      if (tag.is_string() && tag.get<std::string>() != "<none>:<none>") {
        info.tags.push_back(tag.get<std::string>());
      }
    }
  }
  // Inspect puts the labels under Config, the list at the top.
  if (image.contains("Config") && image["Config"].is_object() &&
      image["Config"].contains("Labels")) {
    info.labels = string_map(image["Config"]["Labels"]);
  } else if (image.contains("Labels")) {
    info.labels = string_map(image["Labels"]);
  }
  if (image.contains("Size") && image["Size"].is_number_integer()) {
    info.size_bytes = image["Size"].get<std::int64_t>();
  }
  if (image.contains("Created")) {
    const auto &created = image["Created"];
    if (created.is_string()) {
      info.created = created.get<std::string>();
    } else if (created.is_number_integer()) {
      const std::time_t seconds = created.get<std::int64_t>();
      std::tm utc{};
      gmtime_r(&seconds, &utc);
      char text[32];
      if (std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc) > 0) {
        info.created = text;
      }
    }
  }
  return info;
}

std::string image_filters(const std::map<std::string, std::string> &labels) {
  if (labels.empty()) {
    return "{}";
  }
  auto list = json::array();
  for (const auto &[key, value] : labels) {
    list.push_back(value.empty() ? key : key + "=" + value);
  }
  return json{{"label", list}}.dump();
}

NetworkInfo parse_network(const json &network) {
  NetworkInfo info;
  info.id = string_at(network, "Id");
  info.name = string_at(network, "Name");
  if (network.contains("Labels")) {
    info.labels = string_map(network["Labels"]);
  }
  if (network.contains("Options") && network["Options"].is_object()) {
    info.bridge = string_at(network["Options"], "com.docker.network.bridge.name");
  }
  if (info.bridge.empty() && info.id.size() >= 12) {
    info.bridge = "br-" + info.id.substr(0, 12);
  }
  if (network.contains("IPAM") && network["IPAM"].contains("Config") &&
      network["IPAM"]["Config"].is_array()) {
    for (const auto &config : network["IPAM"]["Config"]) {
      const auto subnet = string_at(config, "Subnet");
      if (subnet.empty()) {
        continue;
      }
      if (subnet.find(':') == std::string::npos && info.subnet.empty()) {
        info.subnet = subnet;
        info.gateway = string_at(config, "Gateway");
      } else if (subnet.find(':') != std::string::npos && info.subnet6.empty()) {
        info.subnet6 = subnet;
        info.gateway6 = string_at(config, "Gateway");
      }
    }
  }
  return info;
}

std::string api_error_message(std::string_view body) {
  const auto parsed = json::parse(body, nullptr, false);
  if (!parsed.is_discarded()) {
    auto message = string_at(parsed, "message");
    if (!message.empty()) {
      return message;
    }
  }
  std::string text(body);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  return text.empty() ? std::string("no details given") : text;
}

ImageRef split_image(std::string_view image) {
  const auto at = image.find('@');
  if (at != std::string_view::npos) {
    return {std::string(image), {}};
  }
  const auto slash = image.rfind('/');
  const auto colon = image.rfind(':');
  // A colon before the last slash belongs to a registry port (registry:5000/name).
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    return {std::string(image.substr(0, colon)), std::string(image.substr(colon + 1))};
  }
  return {std::string(image), "latest"};
}

LoadOutput parse_load_output(std::string_view body) {
  LoadOutput out;
  LineSplitter lines;
  auto all = lines.feed(body);
  for (auto &last : lines.feed("\n")) { // a last line without its newline
    all.push_back(std::move(last));
  }
  for (const auto &line : all) {
    auto parsed = parse_pull_line(line);
    if (parsed && parsed->error && !out.error) {
      out.error = parsed->error;
      continue;
    }
    const auto json_line = json::parse(line, nullptr, false);
    std::string text = json_line.is_object() ? string_at(json_line, "stream") : std::string(line);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
      text.pop_back();
    }
    for (std::string_view prefix : {"Loaded image ID: ", "Loaded image: "}) {
      if (text.rfind(prefix, 0) == 0 && text.size() > prefix.size()) {
        out.loaded.push_back(text.substr(prefix.size()));
        break;
      }
    }
  }
  return out;
}

std::optional<PullLine> parse_pull_line(std::string_view line) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) {
    line.remove_suffix(1);
  }
  if (line.empty()) {
    return std::nullopt;
  }
  const auto parsed = json::parse(line, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    return PullLine{std::string(line), std::nullopt};
  }
  PullLine result;
  if (parsed.contains("error")) {
    auto error = string_at(parsed, "error");
    if (error.empty() && parsed.contains("errorDetail")) {
      error = string_at(parsed["errorDetail"], "message");
    }
    result.error = error.empty() ? std::string("unknown error") : error;
    return result;
  }
  for (const char *key : {"status", "id", "progress"}) {
    const auto part = string_at(parsed, key);
    if (!part.empty()) {
      if (!result.text.empty()) {
        result.text += ' ';
      }
      result.text += part;
    }
  }
  if (result.text.empty()) {
    return std::nullopt;
  }
  return result;
}

void StreamDemux::feed(std::string_view data) {
  while (!data.empty()) {
    if (m_remaining == 0) {
      const auto need = 8 - m_pending.size();
      const auto take = std::min(need, data.size());
      m_pending.append(data.substr(0, take));
      data.remove_prefix(take);
      if (m_pending.size() < 8) {
        return;
      }
      const auto byte = [this](std::size_t i) {
        return static_cast<std::uint32_t>(static_cast<unsigned char>(m_pending[i]));
      };
      m_stream = static_cast<int>(byte(0));
      m_remaining = (byte(4) << 24) | (byte(5) << 16) | (byte(6) << 8) | byte(7);
      m_pending.clear();
      continue;
    }
    const auto take = std::min<std::size_t>(m_remaining, data.size());
    // 0 is stdin echoed back; with no TTY it does not happen, but keep it with stdout.
    (m_stream == 2 ? err : out).append(data.substr(0, take));
    data.remove_prefix(take);
    m_remaining -= static_cast<std::uint32_t>(take);
  }
}

} // namespace ltb::runtime::docker
