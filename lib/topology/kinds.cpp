// The kind registry. To add a container kind that needs no code of its own (an image with its
// own default, login and startup-config place), add an entry to k_kinds, its paragraph under
// "Kinds" in man/ltb-topology.5.scd, and paste what the failing unit tests print into the man
// page's kind table and the schema's kind list.

#include "topology/kinds.hpp"

#include <algorithm>
#include <array>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <regex>

namespace ltb::topology {

namespace {

constexpr std::int64_t k_mib = 1024 * 1024;

/// Fields only a VM has.
constexpr std::array<std::string_view, 6> k_vm_only_fields{"kernel",    "initrd",    "cmdline",
                                                           "disk-size", "nic-model", "accel"};
/// Container fields a VM cannot have: it runs its own operating system, so nothing is exec'd in
/// it or mounted into it.
constexpr std::array<std::string_view, 15> k_container_only_fields{
    "exec",    "startup-config", "binds",        "env",         "entrypoint",
    "cmd",     "ports",          "network-mode", "healthcheck", "dns",
    "sysctls", "cap-add",        "devices",      "shm-size",    "env-files"};
/// All a bridge takes: ltb creates it on the host, with no image or management address.
constexpr std::array<std::string_view, 4> k_bridge_fields{"kind", "group", "labels", "impairments"};

constexpr KindFields k_container_fields{
    false,
    k_vm_only_fields,
    "'{field}' applies to vm nodes only",
    "'{field}' applies to vm nodes only",
    "remove it, or set kind: vm to make '{node}' a virtual machine",
    "set it under topology.kinds.vm instead",
};

constexpr KindFields k_vm_fields{
    false,
    k_container_only_fields,
    "'{field}' is not supported on vm nodes",
    "'{field}' is not supported on vm nodes",
    "a VM runs its own operating system: configure it in its image, or pass settings on the "
    "kernel command line (cmdline)",
    "a VM runs its own operating system: configure it in its image, or pass settings on the "
    "kernel command line (cmdline)",
};

/// A Linux bridge (containerlab's kind bridge) is the host's; only labels and impairments apply.
constexpr std::array<std::string_view, 4> k_linux_bridge_fields{"kind", "group", "labels",
                                                                "impairments"};
constexpr KindFields k_linux_bridge_only_fields{
    true,
    k_linux_bridge_fields,
    "'{field}' does not apply to {kind} node '{node}'",
    "'{field}' does not apply to topology.kinds.{kind}",
    "a {kind} node is a Linux bridge on the host named '{node}': it takes only kind, group, "
    "labels and impairments",
    "a {kind} node is a Linux bridge on the host: it takes only kind, group, labels and "
    "impairments",
};
/// A container ltb did not make: linked into the lab, exec'd in, never made or removed.
constexpr std::array<std::string_view, 4> k_external_fields{"kind", "group", "labels", "exec"};
constexpr KindFields k_external_only_fields{
    true,
    k_external_fields,
    "'{field}' does not apply to {kind} node '{node}'",
    "'{field}' does not apply to topology.kinds.{kind}",
    "an {kind} node is a container that ltb did not make, named '{node}': it takes only kind, "
    "group, labels and exec",
    "an {kind} node is a container that ltb did not make: it takes only kind, group, labels "
    "and exec",
};
/// The host itself: its links' ends are interfaces in the host's namespace.
constexpr std::array<std::string_view, 3> k_host_fields{"kind", "group", "labels"};
constexpr KindFields k_host_only_fields{
    true,
    k_host_fields,
    "'{field}' does not apply to {kind} node '{node}'",
    "'{field}' does not apply to topology.kinds.{kind}",
    "a {kind} node is the host ltb runs on: it takes only kind, group and labels (ltb runs "
    "nothing on the host for a lab)",
    "a {kind} node is the host ltb runs on: it takes only kind, group and labels",
};

constexpr KindFields k_bridge_only_fields{
    true,
    k_bridge_fields,
    "'{field}' does not apply to {kind} node '{node}'",
    "'{field}' does not apply to topology.kinds.{kind}",
    "an {kind} node takes only kind, group, labels and impairments: ltb creates the bridge "
    "itself, with no image or management address",
    "an {kind} node takes only kind, group, labels and impairments: ltb creates the bridge "
    "itself, with no image or management address",
};

// clang-format off
constexpr std::array<std::string_view, 3> k_frr_show_config{"vtysh", "-c", "show running-config"};
constexpr std::array<std::string_view, 3> k_frr_write_config{"vtysh", "-c", "write memory"};
constexpr std::array<std::string_view, 3> k_frr_version{"vtysh", "-c", "show version"};
// The first file that exists wins, as the os-release(5) says; cat prints both when both do.
constexpr std::array<std::string_view, 3> k_os_release{"cat", "/etc/os-release", "/usr/lib/os-release"};
constexpr std::string_view k_os_release_pattern = R"(^PRETTY_NAME=["']?([^"'\n]+))";

// Confined containers: the least each kind's image needs (tried on this host; see the man page).
// ip and ping: NET_ADMIN, NET_RAW. FRR: its daemons refuse to start without NET_ADMIN, NET_RAW and
// SYS_ADMIN (zebra's "initial cap_set_proc failed"); the start script chowns FRR's run directory
// and reads /etc/frr as root (CHOWN, DAC_OVERRIDE), signals the daemons (KILL), which drop to user
// frr (SETUID, SETGID) and bind their ports (NET_BIND_SERVICE); sshd chroots (SYS_CHROOT).
constexpr std::array<std::string_view, 2> k_host_caps{"NET_ADMIN", "NET_RAW"};
constexpr std::array<std::string_view, 10> k_frr_caps{
    "NET_ADMIN", "NET_RAW", "NET_BIND_SERVICE", "SYS_ADMIN", "SETUID",
    "SETGID",    "CHOWN",   "DAC_OVERRIDE",     "KILL",      "SYS_CHROOT"};
constexpr std::array<std::string_view, 2> k_router_sysctls{"net.ipv4.ip_forward=1",
                                                           "net.ipv6.conf.all.forwarding=1"};

// FRR over Ansible's network_cli (the frr.frr collection). ltb's image logs root in to bash, so
// the first shell prompt (user@host:dir# ) is answered with vtysh, whose prompt FRR's terminal
// plugin knows; a login that lands in vtysh itself never shows that prompt. network_cli goes
// through paramiko (Debian has no ansible-pylibssh), which reads only ~/.ssh/known_hosts: the
// lab's own known_hosts cannot be given, and a node's key changes whenever ltb recreates it, so
// host keys are not checked.
constexpr std::array<AnsibleVar, 6> k_frr_ansible{{
    {"ansible_connection", "ansible.netcommon.network_cli"},
    {"ansible_network_os", "frr.frr.frr"},
    {"ansible_host_key_checking", "false"},
    {"ansible_terminal_initial_prompt", R"("\\S+@\\S+:\\S*[#$] ?$")"},
    {"ansible_terminal_initial_answer", "vtysh"},
    {"ansible_network_cli_ssh_type", "paramiko"},
}};

const std::array k_kinds{
    Kind{.name = "linux",
         .runtime = Runtime::container,
         .default_image = "",
         .startup_config_path = "/etc/ltb/startup-config",
         .username = "root",
         .password = "",
         .demand = {},
         .fields = k_container_fields,
         .about = "a container",
         .entry_note = "",
         .runtime_text = "container",
         .version_command = k_os_release,
         .version_pattern = k_os_release_pattern,
         .confined_capabilities = k_host_caps},
    Kind{.name = "frr",
         .runtime = Runtime::container,
         .default_image = "ltb/frr:latest",
         .startup_config_path = "/etc/frr/frr.conf",
         .username = "root",
         .password = "ltb",
         .demand = {},
         .fields = k_container_fields,
         .about = "a container running FRRouting",
         .entry_note = "",
         .runtime_text = "container",
         .running_config_command = k_frr_show_config,
         .keep_config_command = k_frr_write_config,
         .keep_config_ok = "[OK]",
         .saved_config = "frr.conf",
         .version_command = k_frr_version,
         .version_pattern = R"(^(FRRouting \S+))",
         .confined_capabilities = k_frr_caps,
         .confined_sysctls = k_router_sysctls,
         .sshd = true,
         .ansible_vars = k_frr_ansible},
    Kind{.name = "vm",
         .runtime = Runtime::vm,
         .default_image = "ltb-vm",
         .startup_config_path = "",
         .username = "root",
         .password = "ltb",
         .default_cpus = 1,
         .default_memory_bytes = 256 * k_mib,
         .demand = {.none = false, .cpus = 1, .memory_bytes = 256 * k_mib, .disk = true},
         .fields = k_vm_fields,
         .about = "a libvirt/QEMU virtual machine",
         .entry_note = "container fields such as exec are errors here",
         .runtime_text = "virtual machine (libvirt)",
         .version_command = k_os_release,
         .version_pattern = k_os_release_pattern,
         .sshd = true},
    Kind{.name = "ovs-bridge",
         .runtime = Runtime::ovs_bridge,
         .default_image = "",
         .startup_config_path = "",
         .username = "",
         .password = "",
         .demand = {.none = true},
         .fields = k_bridge_only_fields,
         .about = "an Open vSwitch bridge that ltb creates",
         .entry_note = "only labels apply",
         .runtime_text = "Open vSwitch bridge"},
    Kind{.name = "bridge",
         .runtime = Runtime::linux_bridge,
         .default_image = "",
         .startup_config_path = "",
         .username = "",
         .password = "",
         .demand = {.none = true},
         .fields = k_linux_bridge_only_fields,
         .about = "a Linux bridge on the host named as the node, made by ltb (and removed with "
                  "the lab) when it does not exist",
         .entry_note = "only labels and impairments apply",
         .runtime_text = "Linux bridge"},
    Kind{.name = "host",
         .runtime = Runtime::host,
         .default_image = "",
         .startup_config_path = "",
         .username = "",
         .password = "",
         .demand = {.none = true},
         .fields = k_host_only_fields,
         .about = "the host itself, whose interfaces are the ends of host:IFACE links",
         .entry_note = "only labels apply",
         .runtime_text = "the host"},
    Kind{.name = "ext-container",
         .runtime = Runtime::external,
         .default_image = "",
         .startup_config_path = "",
         .username = "",
         .password = "",
         .demand = {.none = true},
         .fields = k_external_only_fields,
         .about = "a running container that ltb did not make, named as the node, linked into "
                  "the lab and never removed by ltb",
         .entry_note = "only labels and exec apply",
         .runtime_text = "a container not made by ltb"},
};
// clang-format on

struct ForeignKind {
  std::string_view name;
  std::string_view help;
};

// None today: containerlab's bridge and host are kinds of ltb's.
constexpr std::array<ForeignKind, 0> k_foreign_kinds{};

std::string format_mib(std::int64_t bytes) {
  return bytes % k_mib == 0 ? fmt::format("{} MiB", bytes / k_mib) : fmt::format("{} B", bytes);
}

} // namespace

std::span<const Kind> kinds() {
  return k_kinds;
}

const Kind *find_kind(std::string_view name) {
  auto it = std::find_if(k_kinds.begin(), k_kinds.end(),
                         [&](const Kind &kind) { return kind.name == name; });
  return it == k_kinds.end() ? nullptr : &*it;
}

Runtime runtime_of_kind(std::string_view name) {
  const Kind *kind = find_kind(name);
  return kind ? kind->runtime : Runtime::container;
}

std::vector<std::string> kind_names() {
  std::vector<std::string> names;
  for (const auto &kind : k_kinds) {
    names.emplace_back(kind.name);
  }
  return names;
}

std::string kind_names_text() {
  std::string out;
  for (std::size_t i = 0; i < k_kinds.size(); ++i) {
    if (i > 0) {
      out += i + 1 == k_kinds.size() ? " and " : ", ";
    }
    out += k_kinds[i].name;
  }
  return out;
}

std::optional<std::string_view> foreign_kind_help(std::string_view name) {
  for (const auto &foreign : k_foreign_kinds) {
    if (foreign.name == name) {
      return foreign.help;
    }
  }
  return std::nullopt;
}

std::string login_text(const Kind &kind) {
  if (kind.username.empty()) {
    return "none";
  }
  return kind.password.empty() ? fmt::format("{}, no password", kind.username)
                               : fmt::format("{}, password {}", kind.username, kind.password);
}

std::optional<std::string> running_version(const Kind &kind, std::string_view output) {
  if (kind.version_pattern.empty()) {
    return std::nullopt;
  }
  const std::regex pattern(kind.version_pattern.begin(), kind.version_pattern.end());
  std::size_t start = 0;
  while (start < output.size()) {
    std::size_t end = output.find('\n', start);
    if (end == std::string_view::npos) {
      end = output.size();
    }
    std::string line(output.substr(start, end - start));
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    std::smatch match;
    if (std::regex_search(line, match, pattern) && match.size() > 1 && match[1].length() > 0) {
      return match[1].str();
    }
    start = end + 1;
  }
  return std::nullopt;
}

std::string confined_capabilities_text(const Kind &kind) {
  if (kind.confined_capabilities.empty()) {
    return "none";
  }
  return fmt::format("{}", fmt::join(kind.confined_capabilities, ", "));
}

std::string kinds_man_table() {
  // Two tables of few columns: one of six does not fit 80 columns.
  std::string runs = "[[ *Kind*\n"
                     ":[ *Runs as*\n"
                     ":[ *Demand*\n";
  std::string defaults = "[[ *Kind*\n"
                         ":[ *Image*\n"
                         ":[ *Startup config*\n"
                         ":[ *Login*\n";
  for (const auto &kind : k_kinds) {
    std::string demand = "none";
    if (!kind.demand.none && kind.demand.cpus == 0 && kind.demand.memory_bytes == 0) {
      demand = "defaults";
    } else if (!kind.demand.none) {
      demand = fmt::format("{}, {}",
                           kind.demand.cpus > 0 ? fmt::format("{} vCPU", kind.demand.cpus)
                                                : std::string("default"),
                           kind.demand.memory_bytes > 0 ? format_mib(kind.demand.memory_bytes)
                                                        : std::string("default"));
    }
    if (kind.demand.disk) {
      demand += ", disk";
    }
    runs += fmt::format("|  *{}*\n:  {}\n:  {}\n", kind.name, kind.runtime_text, demand);
    std::string login = "-";
    if (!kind.username.empty()) {
      login = kind.password.empty() ? std::string(kind.username)
                                    : fmt::format("{} / {}", kind.username, kind.password);
    }
    defaults += fmt::format("|  *{}*\n:  {}\n:  {}\n:  {}\n", kind.name,
                            kind.default_image.empty() ? "-" : kind.default_image,
                            kind.startup_config_path.empty()
                                ? std::string("-")
                                : fmt::format("_{}_", kind.startup_config_path),
                            login);
  }
  std::string confined = "[[ *Kind*\n"
                         ":[ *Capabilities in a confined lab*\n";
  for (const auto &kind : k_kinds) {
    if (kind.runtime == Runtime::container) {
      std::string sysctls;
      for (const auto &sysctl : kind.confined_sysctls) {
        sysctls += fmt::format(", {}", sysctl);
      }
      confined += fmt::format("|  *{}*\n:  {}{}\n", kind.name, confined_capabilities_text(kind),
                              sysctls.empty() ? "" : "; sysctls" + sysctls.substr(1));
    }
  }
  // scdoc ends a table at a blank line.
  return runs + "\n" + defaults + "\n" + confined + "\n";
}

} // namespace ltb::topology
