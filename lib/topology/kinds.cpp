// The kind registry. To add a container kind that needs no code of its own (an image with its
// own default, login and startup-config place), add an entry to k_kinds, its paragraph under
// "Kinds" in man/ltb-topology.5.scd, and paste what the failing unit tests print into the man
// page's kind table and the schema's kind list.

#include "topology/kinds.hpp"

#include <algorithm>
#include <array>
#include <fmt/args.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <map>
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

// Vendor kinds, as containerlab's nodes/<kind> package and its manual/kinds page give them.
// Nokia SR Linux (nodes/srl, manual/kinds/srl): sr_linux as root with SRLINUX=1, its
// configuration directory /etc/opt/srlinux, its sysctls, ethernet-L/P[/C] aliases of eL-P[-C].
constexpr std::array<std::string_view, 1> k_srl_names{"srl"};
constexpr std::array k_srl_env{KindEnv{"SRLINUX", "1"}};
constexpr std::array k_srl_mounts{KindMount{"config", "/etc/opt/srlinux"}};
constexpr std::array<std::string_view, 6> k_srl_sysctls{
    "net.ipv4.ip_forward=0",                "net.ipv6.conf.all.disable_ipv6=0",
    "net.ipv6.conf.all.accept_dad=0",       "net.ipv6.conf.default.accept_dad=0",
    "net.ipv6.conf.all.autoconf=0",         "net.ipv6.conf.default.autoconf=0"};
constexpr std::array k_srl_aliases{
    InterfaceAlias{R"(ethernet-(\d+)/(\d+))", "e{}-{}"},
    InterfaceAlias{R"(ethernet-(\d+)/(\d+)/(\d+))", "e{}-{}-{}"}};
// Arista cEOS (nodes/ceos, manual/kinds/ceos): /sbin/init with the environment also given as
// systemd.setenv words, the flash directory, EthernetN (and EthernetN/M as ethN_M) aliases.
constexpr std::array<std::string_view, 1> k_ceos_names{"ceos"};
constexpr std::array k_ceos_env{KindEnv{"CEOS", "1"},
                                KindEnv{"EOS_PLATFORM", "ceoslab"},
                                KindEnv{"container", "docker"},
                                KindEnv{"ETBA", "1"},
                                KindEnv{"SKIP_ZEROTOUCH_BARRIER_IN_SYSDBINIT", "1"},
                                KindEnv{"INTFTYPE", "eth"},
                                KindEnv{"MAPETH0", "1"},
                                KindEnv{"MGMT_INTF", "eth0"}};
constexpr std::array k_ceos_mounts{KindMount{"flash", "/mnt/flash"}};
constexpr std::array k_ceos_aliases{
    InterfaceAlias{R"(Ethernet(\d+))", "eth{}"},
    InterfaceAlias{R"(Ethernet(\d+)/(\d+))", "eth{}_{}"},
    InterfaceAlias{R"(Ethernet(\d+)/(\d+)/(\d+))", "eth{}_{}_{}"}};
// Juniper cRPD (nodes/crpd, manual/kinds/crpd): its configuration and log directories.
constexpr std::array<std::string_view, 1> k_crpd_names{"crpd"};
constexpr std::array k_crpd_mounts{KindMount{"config", "/config"}, KindMount{"log", "/var/log"}};
// SONiC-VS (nodes/sonic, manual/kinds/sonic-vs): bash as the entrypoint so that nothing starts
// before the links exist; supervisord and bgpd are started once they do.
constexpr std::array<std::string_view, 2> k_sonic_exec{
    "supervisord >/dev/null 2>&1 &", "sleep 2; supervisorctl start bgpd >/dev/null 2>&1 &"};
// vrnetlab kinds (nodes/vr_*, manual/vrnetlab): ethX inside, the NOS's names as aliases; ethX is
// the port's index from eth1 (containerlab's InterfaceOffset and FirstDataIfIndex).
constexpr std::array<std::string_view, 2> k_sros_names{"vr-sros", "vr-nokia_sros"};
constexpr std::array k_sros_aliases{InterfaceAlias{R"(1/1/(\d+))", "eth{}"}};
constexpr std::array<std::string_view, 2> k_vmx_names{"vr-vmx", "vr-juniper_vmx"};
constexpr std::array k_vmx_aliases{InterfaceAlias{R"((?:et|xe|ge)-0/0/(\d+))", "eth{}", 1}};
constexpr std::array<std::string_view, 2> k_xrv9k_names{"vr-xrv9k", "vr-cisco_xrv9k"};
constexpr std::array k_xrv9k_aliases{InterfaceAlias{
    R"((?:GigabitEthernet|Gi|TenGigabitEthernet|TenGigE|Te)0/0/0/(\d+))", "eth{}", 1}};
constexpr std::array<std::string_view, 2> k_veos_names{"vr-veos", "vr-arista_veos"};
constexpr std::array k_veos_aliases{InterfaceAlias{R"((?:Et|Ethernet)1/(\d+))", "eth{}"}};
constexpr std::string_view k_eth_pattern = R"(eth[1-9]\d*)";

constexpr KindFields k_vrnetlab_fields{
    false,
    k_container_only_fields,
    "'{field}' is not supported on {kind} nodes",
    "'{field}' is not supported on {kind} nodes",
    "ltb runs {kind} as a VM from its qcow2 disk, not as vrnetlab's container: configure it "
    "through its startup configuration or over ssh",
    "ltb runs {kind} as a VM from its qcow2 disk, not as vrnetlab's container",
};

/// A vrnetlab kind: a VM of ltb's from the qcow2 disk the node gives.
constexpr Kind vrnetlab_kind(std::string_view name, std::span<const std::string_view> other,
                             std::string_view about, std::string_view username,
                             std::string_view password, double cpus, std::int64_t memory,
                             std::span<const InterfaceAlias> aliases, std::string_view help,
                             std::string_view page) {
  return Kind{.name = name,
              .runtime = Runtime::vm,
              .default_image = "",
              .startup_config_path = "",
              .username = username,
              .password = password,
              .default_cpus = cpus,
              .default_memory_bytes = memory,
              .demand = {.none = false, .cpus = cpus, .memory_bytes = memory, .disk = true},
              .fields = k_vrnetlab_fields,
              .about = about,
              .entry_note = "a VM from a qcow2 disk; container fields are errors here",
              .runtime_text = "virtual machine (vrnetlab's qcow2)",
              .other_names = other,
              .interfaces = {k_eth_pattern, aliases, help},
              .vrnetlab = true,
              .documentation = page};
}

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
    Kind{.name = "nokia_srlinux",
         .runtime = Runtime::container,
         .default_image = "",
         .startup_config_path = "/etc/opt/srlinux/config.json",
         .username = "admin",
         .password = "NokiaSrl1!",
         .demand = {},
         .fields = k_container_fields,
         .about = "a container running Nokia SR Linux",
         .entry_note = "",
         .runtime_text = "container",
         .confined_capabilities = k_host_caps,
         .sshd = true, // the vendor image runs its own ssh server
         .other_names = k_srl_names,
         .env = k_srl_env,
         .cmd = "sudo -E bash -c 'touch /.dockerenv && /opt/srlinux/bin/sr_linux'",
         .mounts = k_srl_mounts,
         .sysctls = k_srl_sysctls,
         .readiness = "test -s /etc/opt/srlinux/devices/app_ephemeral.mgmt_server.ready_for_config",
         .interfaces = {R"(e\d+-\d+(-\d+)?)", k_srl_aliases,
                        "ethernet-L/P or ethernet-L/P/C (L, P, C from 1), or the Linux names "
                        "eL-P and eL-P-C"},
         .documentation = "manual/kinds/srl/"},
    Kind{.name = "arista_ceos",
         .runtime = Runtime::container,
         .default_image = "",
         .startup_config_path = "/mnt/flash/startup-config",
         .username = "admin",
         .password = "admin",
         .demand = {},
         .fields = k_container_fields,
         .about = "a container running Arista cEOS",
         .entry_note = "",
         .runtime_text = "container",
         .confined_capabilities = k_host_caps,
         .sshd = true, // the vendor image runs its own ssh server
         .other_names = k_ceos_names,
         .env = k_ceos_env,
         .cmd = "bash -c 'exec /sbin/init systemd.setenv=CEOS=1 systemd.setenv=EOS_PLATFORM=ceoslab "
                "systemd.setenv=container=docker systemd.setenv=ETBA=1 "
                "systemd.setenv=SKIP_ZEROTOUCH_BARRIER_IN_SYSDBINIT=1 systemd.setenv=INTFTYPE=eth "
                "systemd.setenv=MAPETH0=1 systemd.setenv=MGMT_INTF=eth0'",
         .mounts = k_ceos_mounts,
         .readiness = "Cli -p 15 -c 'show version'",
         .interfaces = {R"((eth|et)[1-9]\d*(_\d+)*)", k_ceos_aliases,
                        "EthernetN, EthernetN/M or EthernetN/M/C, or the Linux names ethN, ethN_M "
                        "and ethN_M_C"},
         .documentation = "manual/kinds/ceos/"},
    Kind{.name = "juniper_crpd",
         .runtime = Runtime::container,
         .default_image = "",
         .startup_config_path = "/config/juniper.conf",
         .username = "root",
         .password = "clab123",
         .demand = {},
         .fields = k_container_fields,
         .about = "a container running Juniper cRPD",
         .entry_note = "",
         .runtime_text = "container",
         .confined_capabilities = k_host_caps,
         .sshd = true, // the vendor image runs its own ssh server
         .other_names = k_crpd_names,
         .mounts = k_crpd_mounts,
         .readiness = "cli show version",
         .interfaces = {k_eth_pattern, {}, "ethN (N from 1)"},
         .documentation = "manual/kinds/crpd/"},
    Kind{.name = "sonic-vs",
         .runtime = Runtime::container,
         .default_image = "",
         .startup_config_path = "",
         .username = "admin",
         .password = "YourPaSsWoRd",
         .demand = {},
         .fields = k_container_fields,
         .about = "a container running SONiC's virtual switch",
         .entry_note = "",
         .runtime_text = "container",
         .confined_capabilities = k_host_caps,
         .sshd = true, // the vendor image runs its own ssh server
         .entrypoint = "/bin/bash",
         .exec = k_sonic_exec,
         .readiness = "supervisorctl status bgpd | grep -q RUNNING",
         .interfaces = {k_eth_pattern, {}, "ethN (N from 1)"},
         .documentation = "manual/kinds/sonic-vs/"},
    vrnetlab_kind("nokia_sros", k_sros_names, "Nokia SR OS (vSIM) as a VM from its qcow2 disk",
                  "admin", "admin", 2, 4096 * k_mib, k_sros_aliases,
                  "1/1/X (X from 1), or the Linux names ethX", "manual/kinds/vr-sros/"),
    vrnetlab_kind("juniper_vmx", k_vmx_names, "Juniper vMX as a VM from its qcow2 disk", "admin",
                  "admin@123", 2, 4096 * k_mib, k_vmx_aliases,
                  "ge-0/0/X, xe-0/0/X or et-0/0/X (X from 0), or the Linux names ethX",
                  "manual/kinds/vr-vmx/"),
    vrnetlab_kind("cisco_xrv9k", k_xrv9k_names, "Cisco XRv9k as a VM from its qcow2 disk",
                  "clab", "clab@123", 2, 8192 * k_mib, k_xrv9k_aliases,
                  "GigabitEthernet0/0/0/X, Gi0/0/0/X, TenGigE0/0/0/X or Te0/0/0/X (X from 0), or "
                  "the Linux names ethX",
                  "manual/kinds/vr-xrv9k/"),
    vrnetlab_kind("arista_veos", k_veos_names, "Arista vEOS as a VM from its qcow2 disk", "admin",
                  "admin", 1, 2048 * k_mib, k_veos_aliases,
                  "Ethernet1/X or Et1/X (X from 1), or the Linux names ethX",
                  "manual/kinds/vr-veos/"),
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

/// A kind's pattern compiled once a thread: the registry's patterns are few and fixed, and
/// compiling one costs far more than matching it (an interface name is looked up for every link
/// end of every load).
const std::regex &compiled(std::string_view pattern) {
  thread_local std::map<std::string, std::regex, std::less<>> cache;
  auto it = cache.find(pattern);
  if (it == cache.end()) {
    it = cache.emplace(std::string(pattern), std::regex(pattern.begin(), pattern.end())).first;
  }
  return it->second;
}

} // namespace

std::span<const Kind> kinds() {
  return k_kinds;
}

const Kind *find_kind(std::string_view name) {
  auto it = std::find_if(k_kinds.begin(), k_kinds.end(), [&](const Kind &kind) {
    return kind.name == name || std::find(kind.other_names.begin(), kind.other_names.end(), name) !=
                                    kind.other_names.end();
  });
  return it == k_kinds.end() ? nullptr : &*it;
}

Runtime runtime_of_kind(std::string_view name) {
  const Kind *kind = find_kind(name);
  return kind ? kind->runtime : Runtime::container;
}

std::vector<std::string> names_of(const Kind &kind) {
  std::vector<std::string> names{std::string(kind.name)};
  names.insert(names.end(), kind.other_names.begin(), kind.other_names.end());
  return names;
}

std::string linux_interface_name(std::string_view kind, std::string_view iface) {
  const Kind *info = find_kind(kind);
  if (!info) {
    return std::string(iface);
  }
  InterfaceName name = linux_interface(*info, iface);
  return name.alias ? name.linux : std::string(iface);
}

std::vector<std::string> kind_names() {
  std::vector<std::string> names;
  for (const auto &kind : k_kinds) {
    auto own = names_of(kind);
    names.insert(names.end(), own.begin(), own.end());
  }
  return names;
}

InterfaceName linux_interface(const Kind &kind, std::string_view name) {
  const InterfaceNaming &naming = kind.interfaces;
  if (naming.linux_pattern.empty()) {
    return {std::string(name), "", false};
  }
  const std::string text(name);
  for (const auto &alias : naming.aliases) {
    const std::regex &pattern = compiled(alias.pattern);
    std::smatch match;
    if (!std::regex_match(text, match, pattern) ||
        std::any_of(match.begin() + 1, match.end(),
                    [](const auto &group) { return group.length() > 6; })) {
      continue; // no interface has a number that long
    }
    fmt::dynamic_format_arg_store<fmt::format_context> args;
    for (std::size_t i = 1; i < match.size(); ++i) {
      long number = std::stol(match[i].str());
      if (i + 1 == match.size()) {
        number += alias.add;
      }
      args.push_back(number);
    }
    return {fmt::vformat(alias.linux, args), "", true};
  }
  const std::regex &linux_pattern = compiled(naming.linux_pattern);
  if (std::regex_match(text, linux_pattern)) {
    return {text, "", false};
  }
  return {"",
          fmt::format("'{}' is not an interface name of kind {}: it is neither one of its aliases "
                      "nor one of its Linux names",
                      name, kind.name),
          false};
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
  const std::regex &pattern = compiled(kind.version_pattern);
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
