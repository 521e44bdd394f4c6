#pragma once
// In-memory fakes of every outside system apply/ touches (apply::Backends): Docker, libvirt,
// netlink, Open vSwitch, namespaces/taps/tc redirects, the per-lab dnsmasq, the host firewall and
// qemu-img. They share one World, so that removing a container also removes the veths in its
// namespace, and so that a test can list everything that exists. Any call can be made to fail
// (Faults). Used by the unit tests of apply/ only; nothing here touches the host.

#include "apply/apply.hpp"
#include "event/progress.hpp"
#include "net/link_events.hpp"
#include "util/archive.hpp"
#include "util/ipv4.hpp"
#include "util/ipv6.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

namespace ltb::fakes {

/// Which calls fail. Every fake call goes through check(call, argument): it counts the call, runs
/// the on_call hook (a test may cancel there) and fails when a rule matches.
class Faults {
public:
  /// Fails calls named `call` whose argument contains `match` ("" = any), `times` times (-1 =
  /// always).
  void inject(const std::string &call, const std::string &match = {}, int times = -1) {
    std::lock_guard lock(m_mutex);
    m_rules.push_back({call, match, times});
  }
  /// Fails the n-th call (1-based) of any fake, whatever it is.
  void fail_nth(int n) {
    std::lock_guard lock(m_mutex);
    m_fail_nth = n;
  }
  void clear() {
    std::lock_guard lock(m_mutex);
    m_rules.clear();
    m_fail_nth = 0;
    on_call = nullptr;
  }
  int total() const {
    std::lock_guard lock(m_mutex);
    return m_total;
  }
  int calls(const std::string &call) const {
    std::lock_guard lock(m_mutex);
    auto it = m_counts.find(call);
    return it == m_counts.end() ? 0 : it->second;
  }
  /// The failed calls so far, "call(argument)".
  std::vector<std::string> failed() const {
    std::lock_guard lock(m_mutex);
    return m_failed;
  }

  Status check(const std::string &call, const std::string &argument) {
    std::function<void(int, const std::string &)> hook;
    bool failing = false;
    int n = 0;
    {
      std::lock_guard lock(m_mutex);
      n = ++m_total;
      ++m_counts[call];
      hook = on_call;
      if (n == m_fail_nth) {
        failing = true;
      }
      for (auto &rule : m_rules) {
        if (!failing && rule.times != 0 && rule.call == call &&
            argument.find(rule.match) != std::string::npos) {
          failing = true;
          if (rule.times > 0) {
            --rule.times;
          }
        }
      }
      if (failing) {
        m_failed.push_back(call + "(" + argument + ")");
      }
    }
    if (hook) {
      hook(n, call);
    }
    if (failing) {
      return fail(fmt::format("injected failure of {}({})", call, argument));
    }
    return {};
  }

  /// Called after counting each call, outside the lock: (call number, call name).
  std::function<void(int, const std::string &)> on_call;

private:
  struct Rule {
    std::string call;
    std::string match;
    int times;
  };
  mutable std::mutex m_mutex;
  std::vector<Rule> m_rules;
  std::map<std::string, int> m_counts;
  std::vector<std::string> m_failed;
  int m_total = 0;
  int m_fail_nth = 0;
};

/// A network interface: in the host namespace (ns ""), in a container's ("pid:N") or in a named
/// one ("netns:NAME"). Like the kernel's, it keeps its MAC through a move to another namespace
/// and loses its addresses and up state.
struct Iface {
  std::string kind; // "veth", "tap"
  std::string peer_ns;
  std::string peer; // veth peer's name
  std::string mac = {};
  bool up = true;
  std::vector<std::string> addresses = {};
  int ifindex = 0;
  std::string master = {}; // the host bridge it is a port of
  net::DeviceSpec device = {}; // a macvlan, dummy or vxlan: what it was made with
};

struct Container {
  runtime::ContainerSpec spec;
  std::string id;
  std::string state = "created";
  int pid = 0;
  std::vector<std::string> execs;
  std::int64_t changes = 0; // bytes written on top of its image (SizeRw)
  /// With a healthcheck, Docker's health while it runs: "healthy" unless a test sets another.
  std::string health = "healthy";
};

/// An image made by commit_container().
struct Image {
  std::string id;
  std::string parent; // the committed container's image
  std::int64_t size = 0;
  std::map<std::string, std::string> labels;
};

struct Network {
  runtime::NetworkSpec spec;
  std::string id;
};

struct Domain {
  runtime::VmSpec spec;
  std::string uuid;
  std::string state = "running"; // "shutoff" once shut down (then it is persistent)
  bool persistent = false;
  std::string restored_from; // the memory file it was restored from; "" = booted
};

struct Bridge {
  net::Datapath datapath;
  std::map<std::string, std::string> external_ids;
  std::map<std::string, std::map<std::string, std::string>> ports;
};

struct DhcpServer {
  net::DhcpServerSpec spec;
  int pid = 0;
};

/// A published port's proxy (net/port_proxy.hpp): the line it serves, and whether it runs (a
/// test may "kill" it).
struct PortProxy {
  std::string line;
  bool running = true;
};

/// A lab's relay: what it serves, and whether its process runs (a test may "kill" it).
struct RelayProcess {
  net::RelayConfig config;
  bool running = false;
  int pid = 0;
};

/// Everything the fakes hold. One mutex guards it all; no fake calls out while holding it.
struct World {
  mutable std::mutex mutex;
  Faults faults;
  std::map<std::string, Container> containers; // by name
  std::map<std::string, Network> networks;     // by name
  std::map<std::string, Domain> domains;       // by name
  std::set<std::string> named_netns;           // ip netns names
  std::map<std::string, std::string> held;     // named netns -> "pid:N" it names while N runs
  std::map<std::string, Bridge> bridges;       // by name
  std::map<std::pair<std::string, std::string>, Iface> ifaces; // (ns, name)
  std::set<std::pair<std::string, std::string>> forwarding;    // (lab, bridge): allow_bridge
  std::set<std::pair<std::string, std::string>> redirects;     // (from, to) host interfaces
  std::map<std::pair<std::string, std::string>, net::Impairment> qdiscs; // (ns, name): egress
  bool netem = true;                          // the kernel has netem (FakeTc)
  std::map<std::string, DhcpServer> dhcp;     // by lab directory
  std::map<std::string, RelayProcess> relays; // by lab directory
  std::map<std::string, std::vector<PortProxy>> proxies; // by lab directory
  /// Host ports taken by another program ("tcp 8080"): a proxy for one fails to start.
  std::set<std::string> taken_ports;
  /// Confined labs' host firewall rules, by lab; `false`: only some of them (a test removed
  /// one by hand).
  std::map<std::string, std::pair<net::HostFirewallSpec, bool>> firewall;
  /// The figures domain_stats() gives of a domain, set by a test (by domain name; a domain
  /// without an entry reports zeros).
  std::map<std::string, runtime::VmStats> vm_stats;
  std::set<std::string> overlays;             // files
  std::map<std::string, std::string> rebased; // rebase_unsafe: layer file -> its backing file
  std::map<std::string, std::string> backing; // overlay file -> the file it builds on
  std::map<std::string, Domain> saved;        // memory file -> the domain it holds
  std::set<std::string> images{"ltb/busybox:latest", "ltb/frr:latest"};
  std::map<std::string, std::map<std::string, std::string>> image_labels; // by image name
  std::map<std::string, Image> committed; // by name ("repo:tag"), also in images
  std::int64_t base_image_size = 10000;   // every image in images but not in committed
  /// What exec prints: (container name, argv) -> output; unset: exit 0 with no output.
  std::function<runtime::ExecOutput(const std::string &, const std::vector<std::string> &)>
      exec_reply;
  /// The health of a container with a healthcheck once it runs (Container::health).
  std::string health_of_new = "healthy";
  std::map<int, std::string> netns_fds; // placeholder fd -> namespace
  bool kernel_datapath = false;         // like this machine: add_bridge(system) fails
  /// The host's routes for route_interface(): address -> interface; others go by `default_route`.
  std::map<std::string, std::string> routes;
  std::string default_route = "eth0";
  /// Device kinds the kernel lacks (create_device fails as the real kernel does), e.g. "dummy".
  std::set<std::string> missing_kinds;
  int next_pid = 40000;
  int next_id = 1;
  int next_ifindex = 10;

  std::string new_id(const std::string &prefix) {
    return fmt::format("{}{:04}", prefix, next_id++);
  }

  /// Deletes an interface and its veth peer, with their redirects. Caller holds the mutex.
  void drop_iface(const std::string &ns, const std::string &name) {
    auto it = ifaces.find({ns, name});
    if (it == ifaces.end()) {
      return;
    }
    auto iface = it->second;
    ifaces.erase(it);
    qdiscs.erase({ns, name});
    for (auto r = redirects.begin(); r != redirects.end();) {
      r = (ns.empty() && (r->first == name || r->second == name)) ? redirects.erase(r) : ++r;
    }
    if (iface.kind == "veth") {
      drop_iface(iface.peer_ns, iface.peer);
    }
    if (iface.kind == "bridge") {
      for (auto &[other_key, other] : ifaces) {
        if (other_key.first == ns && other.master == name) {
          other.master.clear(); // its ports stay, detached
        }
      }
    }
    // An OVS port stays when its interface goes (as in Open vSwitch, which then reports an
    // error on the interface); the port record is what ltb removes.
  }

  /// Removes a namespace with everything in it (a container stopped or removed), unless a name
  /// holds it (hold_netns): then its interfaces stay, in the named namespace.
  void drop_namespace(const std::string &ns) {
    for (auto h = held.begin(); h != held.end(); ++h) {
      if (h->second != ns) {
        continue;
      }
      std::map<std::pair<std::string, std::string>, Iface> moved;
      for (auto it = ifaces.begin(); it != ifaces.end();) {
        if (it->first.first == ns) {
          moved[{"netns:" + h->first, it->first.second}] = it->second;
          it = ifaces.erase(it);
        } else {
          ++it;
        }
      }
      for (auto &[key, iface] : moved) {
        if (iface.kind == "veth") {
          auto peer = ifaces.find({iface.peer_ns, iface.peer});
          if (peer != ifaces.end()) {
            peer->second.peer_ns = key.first;
          }
        }
      }
      // A veth with both ends in the namespace: its peer was moved too.
      for (auto &[key, iface] : moved) {
        if (iface.kind == "veth" && iface.peer_ns == ns) {
          iface.peer_ns = key.first;
        }
      }
      ifaces.insert(moved.begin(), moved.end());
      held.erase(h);
      return;
    }
    std::vector<std::string> names;
    for (const auto &[key, iface] : ifaces) {
      if (key.first == ns) {
        names.push_back(key.second);
      }
    }
    for (const auto &name : names) {
      drop_iface(ns, name);
    }
  }

  bool empty() const {
    std::lock_guard lock(mutex);
    return containers.empty() && networks.empty() && domains.empty() && bridges.empty() &&
           ifaces.empty() && redirects.empty() && dhcp.empty() && overlays.empty() &&
           relays.empty() && named_netns.empty() && firewall.empty() && proxies.empty();
  }

  /// One line per object, for messages.
  std::string describe() const {
    std::lock_guard lock(mutex);
    std::string out;
    for (const auto &[name, c] : containers) {
      out += fmt::format("container {} ({})\n", name, c.state);
    }
    for (const auto &[name, n] : networks) {
      out += "network " + name + "\n";
    }
    for (const auto &[name, d] : domains) {
      out += "domain " + name + "\n";
    }
    for (const auto &[name, b] : bridges) {
      out += "bridge " + name + "\n";
      for (const auto &[port, ids] : b.ports) {
        out += "  port " + port + "\n";
      }
    }
    for (const auto &[key, iface] : ifaces) {
      out +=
          fmt::format("{} {}:{}\n", iface.kind, key.first.empty() ? "host" : key.first, key.second);
    }
    for (const auto &[dir, d] : dhcp) {
      out += "dnsmasq " + dir + "\n";
    }
    for (const auto &[dir, list] : proxies) {
      for (const auto &proxy : list) {
        out += fmt::format("docker-proxy {} {}", dir, proxy.line);
      }
    }
    for (const auto &[dir, r] : relays) {
      out += fmt::format("relay {} ({} links, {})\n", dir, r.config.size(),
                         r.running ? "running" : "dead");
    }
    for (const auto &file : overlays) {
      out += "overlay " + file + "\n";
    }
    for (const auto &name : named_netns) {
      out += "netns " + name + "\n";
    }
    for (const auto &[lab, rules] : firewall) {
      out += fmt::format("firewall {} on {}{}\n", lab, rules.first.interface,
                         rules.second ? "" : " (incomplete)");
    }
    return out;
  }
};

inline bool labels_match(const std::map<std::string, std::string> &have,
                         const std::map<std::string, std::string> &want) {
  for (const auto &[key, value] : want) {
    auto it = have.find(key);
    if (it == have.end() || it->second != value) {
      return false;
    }
  }
  return true;
}

class FakeDocker final : public runtime::ContainerRuntime {
public:
  explicit FakeDocker(World &world) : m_w(world) {}

  Result<std::string> server_version() override {
    LTB_CHECK(m_w.faults.check("server_version", ""));
    return std::string("fake 1.0 (API 1.41)");
  }
  Result<std::vector<runtime::NetworkInfo>>
  list_networks(const std::map<std::string, std::string> &labels) override {
    LTB_CHECK(m_w.faults.check("list_networks", ""));
    std::lock_guard lock(m_w.mutex);
    std::vector<runtime::NetworkInfo> out;
    for (const auto &[name, n] : m_w.networks) {
      if (labels_match(n.spec.labels, labels)) {
        out.push_back({n.id, name, n.spec.bridge_name, n.spec.labels, n.spec.subnet, n.spec.gateway,
                       n.spec.subnet6, n.spec.gateway6});
      }
    }
    return out;
  }
  Result<std::string> create_network(const runtime::NetworkSpec &spec) override {
    LTB_CHECK(m_w.faults.check("create_network", spec.name));
    std::lock_guard lock(m_w.mutex);
    if (m_w.networks.count(spec.name)) {
      return fail(Error{fmt::format("network with name {} already exists (HTTP 409)", spec.name),
                        {},
                        ExitCode::failed,
                        ErrorKind::already_exists});
    }
    auto id = m_w.new_id("net");
    m_w.networks[spec.name] = {spec, id};
    if (!spec.bridge_name.empty()) {
      // Docker's bridge of the network, in the host's namespace (mgmt-net links are its ports).
      m_w.ifaces[{"", spec.bridge_name}] = {"bridge", "", "", "", true, {}, m_w.next_ifindex++};
    }
    return id;
  }
  Status remove_network(const std::string &name_or_id) override {
    LTB_CHECK(m_w.faults.check("remove_network", name_or_id));
    std::lock_guard lock(m_w.mutex);
    std::string name = name_or_id; // as Docker does, by name or by id
    for (const auto &[n, network] : m_w.networks) {
      if (network.id == name_or_id) {
        name = n;
      }
    }
    for (const auto &[cname, c] : m_w.containers) {
      if (c.spec.network == name) {
        return fail(fmt::format("network {} has active endpoints (HTTP 403)", name));
      }
    }
    if (auto it = m_w.networks.find(name);
        it != m_w.networks.end() && !it->second.spec.bridge_name.empty()) {
      m_w.drop_iface("", it->second.spec.bridge_name);
    }
    m_w.networks.erase(name);
    return {};
  }
  Result<bool> image_present(const std::string &image) override {
    LTB_CHECK(m_w.faults.check("image_present", image));
    std::lock_guard lock(m_w.mutex);
    return m_w.images.count(image) > 0;
  }
  Status pull_image(const std::string &image, const runtime::PullProgress &progress) override {
    LTB_CHECK(m_w.faults.check("pull_image", image));
    if (progress) {
      progress("pulled");
    }
    std::lock_guard lock(m_w.mutex);
    m_w.images.insert(image);
    return {};
  }
  Result<std::optional<runtime::ImageInfo>> inspect_image(const std::string &image) override {
    LTB_CHECK(m_w.faults.check("inspect_image", image));
    std::lock_guard lock(m_w.mutex);
    if (!m_w.images.count(image)) {
      return std::optional<runtime::ImageInfo>{};
    }
    return std::optional<runtime::ImageInfo>{image_info(image)};
  }
  Result<std::vector<runtime::ImageInfo>>
  list_images(const std::map<std::string, std::string> &labels) override {
    LTB_CHECK(m_w.faults.check("list_images", ""));
    std::lock_guard lock(m_w.mutex);
    std::vector<runtime::ImageInfo> out;
    for (const auto &image : m_w.images) {
      auto info = image_info(image);
      bool match = true;
      for (const auto &[key, value] : labels) {
        auto it = info.labels.find(key);
        match = match && it != info.labels.end() && (value.empty() || it->second == value);
      }
      if (match) {
        out.push_back(std::move(info));
      }
    }
    return out;
  }
  Result<std::vector<runtime::ContainerInfo>>
  list_containers(const std::map<std::string, std::string> &labels) override {
    LTB_CHECK(m_w.faults.check("list_containers", ""));
    std::lock_guard lock(m_w.mutex);
    std::vector<runtime::ContainerInfo> out;
    for (const auto &[name, c] : m_w.containers) {
      if (labels_match(c.spec.labels, labels)) {
        out.push_back(info_of(c));
      }
    }
    return out;
  }
  Result<std::vector<std::pair<runtime::ContainerInfo, std::int64_t>>>
  list_containers_sized(const std::map<std::string, std::string> &labels) override {
    LTB_CHECK(m_w.faults.check("list_containers", ""));
    std::lock_guard lock(m_w.mutex);
    std::vector<std::pair<runtime::ContainerInfo, std::int64_t>> out;
    for (const auto &[name, c] : m_w.containers) {
      if (labels_match(c.spec.labels, labels)) {
        out.emplace_back(info_of(c), c.changes);
      }
    }
    return out;
  }
  Result<std::string> create_container(const runtime::ContainerSpec &spec) override {
    LTB_CHECK(m_w.faults.check("create_container", spec.name));
    std::lock_guard lock(m_w.mutex);
    if (m_w.containers.count(spec.name)) {
      return fail(fmt::format("Conflict. The container name \"/{}\" is already in use (HTTP 409)",
                              spec.name));
    }
    if (!m_w.images.count(spec.image)) {
      return fail(fmt::format("No such image: {} (HTTP 404)", spec.image));
    }
    if (!spec.network.empty() && !m_w.networks.count(spec.network)) {
      return fail(fmt::format("network {} not found (HTTP 404)", spec.network));
    }
    Container c;
    c.spec = spec;
    if (spec.network_mode.empty() && !spec.network.empty()) {
      // Docker's own addresses for a container that asks for none (a network ltb joined, or
      // IPv6 without mgmt-ipv6): from the network's subnets, after the ones ltb picks.
      const auto &network = m_w.networks[spec.network].spec;
      const auto n = 100 + static_cast<std::uint32_t>(m_w.containers.size());
      if (auto subnet = util::parse_subnet(network.subnet, false); subnet && c.spec.ipv4.empty()) {
        c.spec.ipv4 = util::format_ipv4(subnet->host(n));
      }
      if (auto subnet = util::parse_subnet6(network.subnet6, false);
          subnet && c.spec.ipv6.empty()) {
        c.spec.ipv6 = util::format_ipv6(subnet->host(n));
      }
    }
    c.id = m_w.new_id("cid");
    c.health = m_w.health_of_new;
    m_w.containers[spec.name] = c;
    return c.id;
  }
  Status start_container(const std::string &id) override {
    LTB_CHECK(m_w.faults.check("start_container", id));
    std::lock_guard lock(m_w.mutex);
    auto *c = find(id);
    if (!c) {
      return fail(fmt::format("No such container: {} (HTTP 404)", id));
    }
    if (c->state != "running") {
      c->state = "running";
      c->pid = m_w.next_pid++;
    }
    return {};
  }
  Status stop_container(const std::string &id, int = -1) override {
    LTB_CHECK(m_w.faults.check("stop_container", id));
    std::lock_guard lock(m_w.mutex);
    auto *c = find(id);
    if (!c) {
      return fail(fmt::format("No such container: {} (HTTP 404)", id));
    }
    if (c->pid) {
      m_w.drop_namespace(fmt::format("pid:{}", c->pid));
    }
    c->state = "exited";
    c->pid = 0;
    return {};
  }
  Result<runtime::ContainerInfo> inspect_container(const std::string &name_or_id) override {
    LTB_CHECK(m_w.faults.check("inspect_container", name_or_id));
    std::lock_guard lock(m_w.mutex);
    auto *c = find(name_or_id);
    if (!c) {
      return fail(fmt::format("No such container: {} (HTTP 404)", name_or_id));
    }
    return info_of(*c);
  }
  Status remove_container(const std::string &name_or_id) override {
    LTB_CHECK(m_w.faults.check("remove_container", name_or_id));
    std::lock_guard lock(m_w.mutex);
    auto *c = find(name_or_id);
    if (!c) {
      return {};
    }
    if (c->pid) {
      m_w.drop_namespace(fmt::format("pid:{}", c->pid));
    }
    m_w.containers.erase(c->spec.name);
    return {};
  }
  Status pause_container(const std::string &id) override {
    LTB_CHECK(m_w.faults.check("pause_container", id));
    std::lock_guard lock(m_w.mutex);
    auto *c = find(id);
    if (!c || (c->state != "running" && c->state != "paused")) {
      return fail(fmt::format("container {} is not running (HTTP 409)", id));
    }
    c->state = "paused";
    return {};
  }
  Status unpause_container(const std::string &id) override {
    LTB_CHECK(m_w.faults.check("unpause_container", id));
    std::lock_guard lock(m_w.mutex);
    auto *c = find(id);
    if (!c) {
      return fail(fmt::format("No such container: {} (HTTP 404)", id));
    }
    if (c->state == "paused") {
      c->state = "running";
    }
    return {};
  }
  Result<std::string> commit_container(const std::string &id, const std::string &image,
                                       const std::map<std::string, std::string> &labels) override {
    LTB_CHECK(m_w.faults.check("commit_container", id));
    std::lock_guard lock(m_w.mutex);
    auto *c = find(id);
    if (!c) {
      return fail(fmt::format("No such container: {} (HTTP 404)", id));
    }
    Image made{m_w.new_id("sha256:img"), c->spec.image, size_of(c->spec.image) + c->changes,
               labels};
    m_w.committed[image] = made;
    m_w.images.insert(image);
    return made.id;
  }
  Result<std::int64_t> container_changes_size(const std::string &id) override {
    LTB_CHECK(m_w.faults.check("container_changes_size", id));
    std::lock_guard lock(m_w.mutex);
    auto *c = find(id);
    if (!c) {
      return fail(fmt::format("No such container: {} (HTTP 404)", id));
    }
    return c->changes;
  }
  Status remove_image(const std::string &image) override {
    LTB_CHECK(m_w.faults.check("remove_image", image));
    std::lock_guard lock(m_w.mutex);
    for (const auto &[name, c] : m_w.containers) {
      if (c.spec.image == image) {
        return fail(fmt::format("conflict: unable to remove image {}: it is used by container "
                                "{} (HTTP 409)",
                                image, name));
      }
    }
    std::string parent;
    if (auto it = m_w.committed.find(image); it != m_w.committed.end()) {
      parent = it->second.parent;
    }
    m_w.committed.erase(image);
    m_w.images.erase(image);
    // Like Docker: an untagged parent (an image loaded by id) goes with its last child.
    if (parent.rfind("sha256:", 0) == 0 && m_w.committed.count(parent) &&
        std::none_of(m_w.committed.begin(), m_w.committed.end(),
                     [&](const auto &child) { return child.second.parent == parent; }) &&
        std::none_of(m_w.containers.begin(), m_w.containers.end(),
                     [&](const auto &c) { return c.second.spec.image == parent; })) {
      m_w.committed.erase(parent);
      m_w.images.erase(parent);
    }
    return {};
  }
  /// The archive is a tar, as Docker's: a manifest.json naming no tags (as an image saved by id
  /// has) and the image's record as JSON; it loads under its id, untagged.
  Status save_image(const std::string &image, const std::string &file) override {
    LTB_CHECK(m_w.faults.check("save_image", image));
    std::lock_guard lock(m_w.mutex);
    std::string name = image;
    for (const auto &[tag, made] : m_w.committed) {
      if (made.id == image) {
        name = tag;
      }
    }
    if (!m_w.images.count(name)) {
      return fail(fmt::format("reference does not exist: {} (HTTP 404)", image));
    }
    const auto info = image_info(name);
    const nlohmann::json record{
        {"fake-docker-save", info.id},
        {"parent", m_w.committed.count(name) ? m_w.committed.at(name).parent : std::string()},
        {"size", info.size_bytes},
        {"labels", info.labels}};
    const nlohmann::json manifest = nlohmann::json::array(
        {{{"Config", "image.json"}, {"RepoTags", nullptr}, {"Layers", nlohmann::json::array()}}});
    return util::write_tar(file, {{"manifest.json", manifest.dump(), {}, 0644},
                                  {"image.json", record.dump(), {}, 0644}});
  }
  Result<std::vector<std::string>> load_image(const std::string &file) override {
    LTB_CHECK(m_w.faults.check("load_image", file));
    nlohmann::json saved;
    if (auto entries = util::read_tar(file)) {
      for (const auto &entry : *entries) {
        if (entry.name == "image.json") {
          saved = nlohmann::json::parse(entry.data, nullptr, false);
        }
      }
    }
    if (saved.is_discarded() || !saved.is_object() || !saved.contains("fake-docker-save")) {
      return fail(fmt::format("Error processing tar file(exit status 1): unexpected EOF (HTTP "
                              "500): {}",
                              file));
    }
    std::lock_guard lock(m_w.mutex);
    const std::string id = saved["fake-docker-save"];
    if (!m_w.images.count(id)) {
      m_w.committed[id] = {id, saved.value("parent", ""), saved.value("size", std::int64_t{0}),
                           saved.value("labels", std::map<std::string, std::string>{})};
      m_w.images.insert(id);
    }
    return std::vector<std::string>{id};
  }
  Result<runtime::ExecOutput> exec(const std::string &id, const std::vector<std::string> &argv,
                                   int = 0) override {
    LTB_CHECK(m_w.faults.check("exec", argv.size() > 2 ? argv[2] : id));
    std::lock_guard lock(m_w.mutex);
    auto *c = find(id);
    if (!c || c->state != "running") {
      return fail(fmt::format("container {} is not running (HTTP 409)", id));
    }
    c->execs.push_back(argv.size() > 2 ? argv[2] : "");
    if (m_w.exec_reply) {
      return m_w.exec_reply(c->spec.name, argv);
    }
    return runtime::ExecOutput{0, "", ""};
  }

private:
  /// Caller holds the mutex.
  runtime::ImageInfo image_info(const std::string &image) const {
    runtime::ImageInfo info;
    info.id = "sha256:" + image;
    if (image.rfind("sha256:", 0) != 0) { // an image loaded by id has no name
      info.tags = {image};
    }
    info.size_bytes = m_w.base_image_size;
    if (auto it = m_w.image_labels.find(image); it != m_w.image_labels.end()) {
      info.labels = it->second;
    }
    if (auto it = m_w.committed.find(image); it != m_w.committed.end()) {
      info.id = it->second.id;
      info.size_bytes = it->second.size;
      info.labels = it->second.labels;
    }
    return info;
  }
  std::int64_t size_of(const std::string &image) const {
    auto it = m_w.committed.find(image);
    return it == m_w.committed.end() ? m_w.base_image_size : it->second.size;
  }
  Container *find(const std::string &name_or_id) {
    for (auto &[name, c] : m_w.containers) {
      if (name == name_or_id || c.id == name_or_id) {
        return &c;
      }
    }
    return nullptr;
  }
  static runtime::ContainerInfo info_of(const Container &c) {
    return {c.id,         c.spec.name,
            c.spec.image, c.state,
            c.pid,        c.spec.labels,
            c.spec.ipv4,  c.spec.healthcheck && c.state == "running" ? c.health : std::string(),
            c.spec.ipv6};
  }
  World &m_w;
};

class FakeNetlink final : public net::Netlink {
public:
  explicit FakeNetlink(World &world) : m_w(world) {}

  Status create_veth(const net::VethEnd &a, const net::VethEnd &b, int) override {
    LTB_CHECK(m_w.faults.check("create_veth", a.name + "|" + b.name));
    std::lock_guard lock(m_w.mutex);
    LTB_TRY(ns_a, ns_of(a.netns_fd));
    LTB_TRY(ns_b, ns_of(b.netns_fd));
    for (const auto &[ns, name] : {std::pair{ns_a, a.name}, std::pair{ns_b, b.name}}) {
      if (m_w.ifaces.count({ns, name})) {
        return fail(fmt::format("cannot create veth {} <-> {}: {} exists", a.name, b.name, name));
      }
    }
    m_w.ifaces[{ns_a, a.name}] = {"veth", ns_b, b.name, mac(), true, {}, m_w.next_ifindex++};
    m_w.ifaces[{ns_b, b.name}] = {"veth", ns_a, a.name, mac(), true, {}, m_w.next_ifindex++};
    return {};
  }
  Result<net::LinkSnapshot> snapshot_link(const std::string &name, int netns_fd) override {
    LTB_CHECK(m_w.faults.check("snapshot_link", name));
    std::lock_guard lock(m_w.mutex);
    LTB_TRY(ns, ns_of(netns_fd));
    auto it = m_w.ifaces.find({ns, name});
    if (it == m_w.ifaces.end()) {
      return fail(fmt::format("cannot find interface {}: No such device", name));
    }
    net::LinkSnapshot snapshot;
    snapshot.name = name;
    snapshot.mac = it->second.mac;
    snapshot.mtu = 1500;
    snapshot.up = it->second.up;
    snapshot.addresses = it->second.addresses;
    return snapshot;
  }
  Status move_link(const std::string &name, int from_fd, int to_fd,
                   const std::string &new_name) override {
    LTB_CHECK(m_w.faults.check("move_link", name + ">" + new_name));
    std::lock_guard lock(m_w.mutex);
    LTB_TRY(from, ns_of(from_fd));
    LTB_TRY(to, ns_of(to_fd));
    auto it = m_w.ifaces.find({from, name});
    if (it == m_w.ifaces.end()) {
      return fail(fmt::format("cannot find interface {}: No such device", name));
    }
    if (from == to && name == new_name) {
      return {}; // as the kernel: nothing to do
    }
    if (m_w.ifaces.count({to, new_name})) {
      return fail(fmt::format("cannot move interface {} (as {}): File exists", name, new_name));
    }
    auto iface = it->second;
    m_w.ifaces.erase(it);
    iface.up = false;
    iface.addresses.clear();
    m_w.ifaces[{to, new_name}] = iface;
    if (iface.kind == "veth") {
      auto &peer = m_w.ifaces.at({iface.peer_ns, iface.peer});
      peer.peer_ns = to;
      peer.peer = new_name;
    }
    return {};
  }
  Status restore_link(const net::LinkSnapshot &snapshot, int netns_fd) override {
    LTB_CHECK(m_w.faults.check("restore_link", snapshot.name));
    std::lock_guard lock(m_w.mutex);
    LTB_TRY(ns, ns_of(netns_fd));
    auto it = m_w.ifaces.find({ns, snapshot.name});
    if (it == m_w.ifaces.end()) {
      return fail(fmt::format("cannot find interface {}: No such device", snapshot.name));
    }
    it->second.mac = snapshot.mac;
    it->second.up = snapshot.up;
    for (const auto &address : snapshot.addresses) {
      auto &have = it->second.addresses;
      if (std::find(have.begin(), have.end(), address) == have.end()) {
        have.push_back(address);
      }
    }
    return {};
  }
  Status delete_link(const std::string &name, int netns_fd) override {
    LTB_CHECK(m_w.faults.check("delete_link", name));
    std::lock_guard lock(m_w.mutex);
    LTB_TRY(ns, ns_of(netns_fd));
    m_w.drop_iface(ns, name);
    return {};
  }
  Result<bool> link_exists(const std::string &name, int netns_fd) override {
    LTB_CHECK(m_w.faults.check("link_exists", name));
    std::lock_guard lock(m_w.mutex);
    LTB_TRY(ns, ns_of(netns_fd));
    return m_w.ifaces.count({ns, name}) > 0;
  }
  Result<std::string> link_kind(const std::string &name, int netns_fd) override {
    LTB_CHECK(m_w.faults.check("link_kind", name));
    std::lock_guard lock(m_w.mutex);
    LTB_TRY(ns, ns_of(netns_fd));
    auto it = m_w.ifaces.find({ns, name});
    return it == m_w.ifaces.end() ? std::string() : it->second.kind;
  }
  Status create_bridge(const std::string &name) override {
    LTB_CHECK(m_w.faults.check("create_bridge", name));
    std::lock_guard lock(m_w.mutex);
    if (m_w.ifaces.count({"", name})) {
      return fail(fmt::format("cannot create bridge {}: File exists", name));
    }
    m_w.ifaces[{"", name}] = {"bridge", "", "", mac(), true, {}, m_w.next_ifindex++};
    return {};
  }
  Status set_master(const std::string &name, const std::string &bridge) override {
    LTB_CHECK(m_w.faults.check("set_master", name + ">" + bridge));
    std::lock_guard lock(m_w.mutex);
    auto port = m_w.ifaces.find({"", name});
    auto master = m_w.ifaces.find({"", bridge});
    if (port == m_w.ifaces.end() || master == m_w.ifaces.end() || master->second.kind != "bridge") {
      return fail(fmt::format("cannot attach {} to bridge {}: No such device", name, bridge));
    }
    port->second.master = bridge;
    return {};
  }
  Result<std::vector<std::string>> bridge_ports(const std::string &bridge) override {
    std::lock_guard lock(m_w.mutex);
    std::vector<std::string> out;
    for (const auto &[key, iface] : m_w.ifaces) {
      if (key.first.empty() && iface.master == bridge) {
        out.push_back(key.second);
      }
    }
    return out;
  }
  Status create_device(const net::DeviceSpec &spec) override {
    LTB_CHECK(m_w.faults.check("create_device", spec.kind + ":" + spec.end.name));
    std::lock_guard lock(m_w.mutex);
    LTB_TRY(ns, ns_of(spec.end.netns_fd));
    if (m_w.missing_kinds.count(spec.kind)) {
      return fail(fmt::format("cannot create {} interface {}: Operation not supported", spec.kind,
                              spec.end.name));
    }
    if (m_w.ifaces.count({ns, spec.end.name})) {
      return fail(
          fmt::format("cannot create {} interface {}: File exists", spec.kind, spec.end.name));
    }
    if (spec.kind == "macvlan" && !m_w.ifaces.count({"", spec.parent})) {
      return fail(fmt::format("cannot create {} interface {}: the host has no interface '{}'",
                              spec.kind, spec.end.name, spec.parent));
    }
    Iface iface{spec.kind,         "", "", spec.mac.empty() ? mac() : spec.mac, true, {},
                m_w.next_ifindex++};
    iface.device = spec;
    iface.device.end.netns_fd = -1; // the fd is the caller's; the namespace is the key
    m_w.ifaces[{ns, spec.end.name}] = iface;
    return {};
  }
  Result<std::string> route_interface(const std::string &address) override {
    LTB_CHECK(m_w.faults.check("route_interface", address));
    std::lock_guard lock(m_w.mutex);
    auto it = m_w.routes.find(address);
    return it == m_w.routes.end() ? m_w.default_route : it->second;
  }
  Result<std::vector<std::string>> list_links(const std::string &prefix) override {
    LTB_CHECK(m_w.faults.check("list_links", prefix));
    std::lock_guard lock(m_w.mutex);
    std::vector<std::string> out;
    for (const auto &[key, iface] : m_w.ifaces) {
      if (key.first.empty() && key.second.rfind(prefix, 0) == 0) {
        out.push_back(key.second);
      }
    }
    return out;
  }

private:
  std::string mac() {
    const int n = m_macs++;
    return fmt::format("02:00:00:00:{:02x}:{:02x}", n / 256, n % 256);
  }

  /// Caller holds the mutex.
  Result<std::string> ns_of(int fd) {
    if (fd < 0) {
      return std::string();
    }
    auto it = m_w.netns_fds.find(fd);
    if (it == m_w.netns_fds.end()) {
      return fail(fmt::format("fake netlink: fd {} is no namespace", fd));
    }
    if (it->second.rfind("netns:", 0) == 0) {
      const auto name = it->second.substr(6);
      if (!m_w.named_netns.count(name)) {
        return fail("fake netlink: the named namespace is gone");
      }
      if (auto h = m_w.held.find(name); h != m_w.held.end()) {
        return h->second; // the namespace of a process that still runs
      }
      return it->second;
    }
    // The namespace must still exist: its container runs.
    for (const auto &[name, c] : m_w.containers) {
      if (c.pid && fmt::format("pid:{}", c.pid) == it->second) {
        return it->second;
      }
    }
    return fail("fake netlink: the namespace is gone (its container was removed)");
  }
  World &m_w;
  int m_macs = 1;
};

class FakeHostNet final : public net::HostNet {
public:
  explicit FakeHostNet(World &world) : m_w(world) {}

  Result<net::Netns> netns_of_pid(int pid) override {
    LTB_CHECK(m_w.faults.check("netns_of_pid", std::to_string(pid)));
    std::lock_guard lock(m_w.mutex);
    bool running = false;
    for (const auto &[name, c] : m_w.containers) {
      // A paused container's processes are frozen, not gone: their namespace opens.
      running = running || (c.pid == pid && (c.state == "running" || c.state == "paused"));
    }
    if (!running) {
      return fail(fmt::format("cannot open the network namespace of pid {}: no such process", pid));
    }
    // A real descriptor (of /dev/null), so that Netns closes something it owns; the fake
    // netlink maps it back to the namespace.
    int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      return fail("fake: cannot open /dev/null");
    }
    m_w.netns_fds[fd] = fmt::format("pid:{}", pid);
    return net::Netns::adopt(fd);
  }
  Status create_tap(const std::string &name) override {
    LTB_CHECK(m_w.faults.check("create_tap", name));
    std::lock_guard lock(m_w.mutex);
    auto it = m_w.ifaces.find({"", name});
    if (it != m_w.ifaces.end() && it->second.kind != "tap") {
      return fail(fmt::format("cannot create tap {}: exists as a {}", name, it->second.kind));
    }
    m_w.ifaces[{"", name}] = {"tap", "", ""};
    return {};
  }
  Status redirect_pair(const std::string &a, const std::string &b) override {
    LTB_CHECK(m_w.faults.check("redirect_pair", a + "|" + b));
    std::lock_guard lock(m_w.mutex);
    for (const auto &name : {a, b}) {
      if (!m_w.ifaces.count({"", name})) {
        return fail(fmt::format("cannot redirect {} <-> {}: {}: Object not found", a, b, name));
      }
    }
    m_w.redirects.insert({a, b});
    m_w.redirects.insert({b, a});
    return {};
  }
  Status create_netns(const std::string &name) override {
    LTB_CHECK(m_w.faults.check("create_netns", name));
    std::lock_guard lock(m_w.mutex);
    m_w.named_netns.insert(name);
    return {};
  }
  Status hold_netns(int pid, const std::string &name) override {
    LTB_CHECK(m_w.faults.check("hold_netns", name));
    std::lock_guard lock(m_w.mutex);
    const auto ns = fmt::format("pid:{}", pid);
    if (m_w.named_netns.count(name)) {
      auto it = m_w.held.find(name);
      if (it != m_w.held.end() && it->second == ns) {
        return {};
      }
      return fail(fmt::format("cannot keep the network namespace of process {} as {}: it names "
                              "another namespace",
                              pid, name));
    }
    bool running = false;
    for (const auto &[container, c] : m_w.containers) {
      running = running || (c.pid == pid && c.state == "running");
    }
    if (!running) {
      return fail(
          fmt::format("cannot keep the network namespace of process {}: no such process", pid));
    }
    m_w.named_netns.insert(name);
    m_w.held[name] = ns;
    return {};
  }
  Result<net::Netns> open_netns(const std::string &name) override {
    LTB_CHECK(m_w.faults.check("open_netns", name));
    std::lock_guard lock(m_w.mutex);
    if (!m_w.named_netns.count(name)) {
      return fail(fmt::format("cannot open network namespace /run/netns/{}: No such file", name));
    }
    int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      return fail("fake: cannot open /dev/null");
    }
    m_w.netns_fds[fd] = "netns:" + name;
    return net::Netns::adopt(fd);
  }
  Status delete_netns(const std::string &name) override {
    LTB_CHECK(m_w.faults.check("delete_netns", name));
    std::lock_guard lock(m_w.mutex);
    if (m_w.held.erase(name) == 0) {
      m_w.drop_namespace("netns:" + name);
    } // else its process runs on in it
    m_w.named_netns.erase(name);
    return {};
  }

private:
  World &m_w;
};

/// Traffic control and link state on World's interfaces: what each interface's egress does
/// (qdiscs), whether it is up. With world.netem false, netem is missing as on this machine.
class FakeTc final : public net::Tc {
public:
  explicit FakeTc(World &world) : m_w(world) {}

  Status set_impairment(const std::string &name, int netns_fd,
                        const net::Impairment &impairment) override {
    LTB_CHECK(m_w.faults.check("set_impairment", name));
    std::lock_guard lock(m_w.mutex);
    LTB_TRY(ns, ns_of(netns_fd));
    if (!m_w.ifaces.count({ns, name})) {
      return fail(fmt::format("cannot find interface {}: No such device", name));
    }
    ++calls;
    const bool netem = impairment.delay_us || impairment.jitter_us || impairment.loss_pct > 0 ||
                       impairment.corrupt_pct > 0 || impairment.duplicate_pct > 0 ||
                       impairment.reorder_pct > 0;
    if (netem && !m_w.netem) {
      Error e{"the kernel has no netem qdisc", "use the relay"};
      e.kind = ErrorKind::not_supported;
      return tl::unexpected(e);
    }
    if (impairment.empty()) {
      m_w.qdiscs.erase({ns, name});
    } else {
      m_w.qdiscs[{ns, name}] = impairment;
    }
    return {};
  }
  Result<bool> netem_available() override {
    LTB_CHECK(m_w.faults.check("netem_available", ""));
    std::lock_guard lock(m_w.mutex);
    return m_w.netem;
  }
  Status set_link_state(const std::string &name, int netns_fd, bool up) override {
    LTB_CHECK(m_w.faults.check("set_link_state", name));
    std::lock_guard lock(m_w.mutex);
    LTB_TRY(ns, ns_of(netns_fd));
    auto it = m_w.ifaces.find({ns, name});
    if (it == m_w.ifaces.end()) {
      return fail(fmt::format("cannot find interface {}: No such device", name));
    }
    it->second.up = up;
    return {};
  }
  int calls = 0; // set_impairment calls that reached an interface

private:
  /// Caller holds the mutex. "" for the host, "pid:N" for a container's namespace.
  Result<std::string> ns_of(int fd) {
    if (fd < 0) {
      return std::string();
    }
    auto it = m_w.netns_fds.find(fd);
    if (it == m_w.netns_fds.end()) {
      return fail(fmt::format("fake tc: fd {} is no namespace", fd));
    }
    return it->second;
  }
  World &m_w;
};

class FakeOvs final : public net::Ovs {
public:
  explicit FakeOvs(World &world) : m_w(world) {}

  Result<std::string> version() override {
    LTB_CHECK(m_w.faults.check("ovs_version", ""));
    return std::string("3.1.0");
  }
  Status add_bridge(const std::string &name, net::Datapath datapath,
                    const std::map<std::string, std::string> &ids) override {
    LTB_CHECK(m_w.faults.check("add_bridge", name));
    std::lock_guard lock(m_w.mutex);
    if (datapath == net::Datapath::system && !m_w.kernel_datapath) {
      return fail(fmt::format("cannot create bridge {}: {} (could not open datapath)", name,
                              net::k_no_kernel_datapath));
    }
    auto &bridge = m_w.bridges[name];
    bridge.datapath = datapath;
    bridge.external_ids = ids;
    return {};
  }
  Status del_bridge(const std::string &name) override {
    LTB_CHECK(m_w.faults.check("del_bridge", name));
    std::lock_guard lock(m_w.mutex);
    m_w.bridges.erase(name);
    return {};
  }
  Status add_ports(const std::string &bridge, const std::vector<net::OvsPort> &ports) override {
    LTB_CHECK(m_w.faults.check("add_ports", bridge));
    std::lock_guard lock(m_w.mutex);
    auto it = m_w.bridges.find(bridge);
    if (it == m_w.bridges.end()) {
      return fail(fmt::format("ovs-vsctl: no bridge named {}", bridge));
    }
    for (const auto &port : ports) {
      it->second.ports[port.name] = port.external_ids;
    }
    return {};
  }
  Status del_ports(const std::string &bridge, const std::vector<std::string> &ports) override {
    LTB_CHECK(m_w.faults.check("del_ports", bridge));
    std::lock_guard lock(m_w.mutex);
    auto it = m_w.bridges.find(bridge);
    if (it == m_w.bridges.end()) {
      return fail(fmt::format("ovs-vsctl: no bridge named {}", bridge));
    }
    for (const auto &port : ports) {
      it->second.ports.erase(port);
    }
    return {};
  }
  Result<std::vector<net::OvsBridge>>
  bridges(const std::map<std::string, std::string> &ids) override {
    LTB_CHECK(m_w.faults.check("bridges", ""));
    std::lock_guard lock(m_w.mutex);
    std::vector<net::OvsBridge> out;
    for (const auto &[name, b] : m_w.bridges) {
      if (!labels_match(b.external_ids, ids)) {
        continue;
      }
      net::OvsBridge bridge{
          name, b.datapath == net::Datapath::system ? "system" : "netdev", b.external_ids, {}, {}};
      for (const auto &[port, port_ids] : b.ports) {
        bridge.ports.push_back(port);
        bridge.port_external_ids[port] = port_ids;
      }
      out.push_back(std::move(bridge));
    }
    return out;
  }

private:
  World &m_w;
};

class FakeLibvirt final : public runtime::VmRuntime {
public:
  explicit FakeLibvirt(World &world) : m_w(world) {}

  Result<std::string> version() override { return std::string("fake libvirt"); }
  Result<bool> kvm_usable() override {
    LTB_CHECK(m_w.faults.check("kvm_usable", ""));
    return false;
  }
  Result<std::vector<runtime::VmInfo>>
  list(const std::map<std::string, std::string> &metadata) override {
    LTB_CHECK(m_w.faults.check("list_domains", ""));
    std::lock_guard lock(m_w.mutex);
    std::vector<runtime::VmInfo> out;
    for (const auto &[name, d] : m_w.domains) {
      if (labels_match(d.spec.metadata, metadata)) {
        out.push_back(info_of(d));
      }
    }
    return out;
  }
  Result<runtime::VmInfo> create(const runtime::VmSpec &spec) override {
    LTB_CHECK(m_w.faults.check("create_domain", spec.name));
    std::lock_guard lock(m_w.mutex);
    if (m_w.domains.count(spec.name)) {
      return fail(fmt::format("domain '{}' already exists", spec.name));
    }
    if (!spec.disk.empty() && !m_w.overlays.count(spec.disk)) {
      return fail(fmt::format("cannot open disk {}: No such file", spec.disk));
    }
    // Like libvirt: an "ethernet" NIC needs its tap; an "ovs" NIC gets a tap libvirt makes and
    // adds as a port of the bridge (and removes again on destroy).
    for (const auto &nic : spec.nics) {
      if (nic.kind == "ethernet" && !m_w.ifaces.count({"", nic.source})) {
        return fail(fmt::format("cannot use tap {}: no such device", nic.source));
      }
      if (nic.kind == "ovs" && !m_w.bridges.count(nic.source)) {
        return fail(fmt::format("cannot add port to bridge {}: no such bridge", nic.source));
      }
    }
    for (const auto &nic : spec.nics) {
      if (nic.kind == "ovs") {
        m_w.ifaces[{"", nic.target}] = {"tap", "", ""};
        m_w.bridges[nic.source].ports.emplace(nic.target, std::map<std::string, std::string>{});
      }
    }
    Domain d{spec, m_w.new_id("uuid-"), "running", false, ""};
    m_w.domains[spec.name] = d;
    return info_of(d);
  }
  Status destroy(const std::string &name) override {
    LTB_CHECK(m_w.faults.check("destroy_domain", name));
    std::lock_guard lock(m_w.mutex);
    auto it = m_w.domains.find(name);
    if (it == m_w.domains.end()) {
      return {};
    }
    drop_ovs_taps(it->second);
    m_w.domains.erase(it);
    return {};
  }
  Status shutdown(const std::string &name, int) override {
    LTB_CHECK(m_w.faults.check("shutdown_domain", name));
    std::lock_guard lock(m_w.mutex);
    auto it = m_w.domains.find(name);
    if (it == m_w.domains.end()) {
      return fail(fmt::format("no domain named '{}'", name));
    }
    // Like libvirt: the taps it made for OVS NICs go with the guest; ltb's own taps stay.
    drop_ovs_taps(it->second);
    it->second.state = "shutoff";
    it->second.persistent = true;
    return {};
  }
  Status start(const std::string &name) override {
    LTB_CHECK(m_w.faults.check("start_domain", name));
    std::lock_guard lock(m_w.mutex);
    auto it = m_w.domains.find(name);
    if (it == m_w.domains.end()) {
      return fail(fmt::format("no domain named '{}'", name));
    }
    if (it->second.state == "running") {
      return {};
    }
    for (const auto &nic : it->second.spec.nics) {
      if (nic.kind == "ethernet" && !m_w.ifaces.count({"", nic.source})) {
        return fail(fmt::format("cannot use tap {}: no such device", nic.source));
      }
    }
    for (const auto &nic : it->second.spec.nics) {
      if (nic.kind == "ovs" && m_w.bridges.count(nic.source)) {
        m_w.ifaces[{"", nic.target}] = {"tap", "", ""};
        m_w.bridges[nic.source].ports.emplace(nic.target, std::map<std::string, std::string>{});
      }
    }
    it->second.state = "running";
    return {};
  }
  Result<runtime::VmInfo> info(const std::string &name) override {
    LTB_CHECK(m_w.faults.check("domain_info", name));
    std::lock_guard lock(m_w.mutex);
    auto it = m_w.domains.find(name);
    if (it == m_w.domains.end()) {
      return fail(fmt::format("no domain named '{}'", name));
    }
    return info_of(it->second);
  }
  Status console(const std::string &, int, int, char) override {
    return fail("fake libvirt has no console");
  }
  Result<std::vector<runtime::VmStats>> domain_stats() override {
    LTB_CHECK(m_w.faults.check("domain_stats", ""));
    std::lock_guard lock(m_w.mutex);
    std::vector<runtime::VmStats> out;
    for (const auto &[name, d] : m_w.domains) {
      auto set = m_w.vm_stats.find(name);
      runtime::VmStats stats = set != m_w.vm_stats.end() ? set->second : runtime::VmStats{};
      stats.name = name;
      stats.state = d.state;
      out.push_back(std::move(stats));
    }
    return out;
  }
  Status suspend(const std::string &name) override {
    LTB_CHECK(m_w.faults.check("suspend_domain", name));
    std::lock_guard lock(m_w.mutex);
    auto it = m_w.domains.find(name);
    if (it == m_w.domains.end() || it->second.state == "shutoff") {
      return fail(fmt::format("cannot pause VM '{}': not running", name));
    }
    it->second.state = "paused";
    return {};
  }
  Status resume(const std::string &name) override {
    LTB_CHECK(m_w.faults.check("resume_domain", name));
    std::lock_guard lock(m_w.mutex);
    auto it = m_w.domains.find(name);
    if (it == m_w.domains.end()) {
      return fail(fmt::format("no domain named '{}'", name));
    }
    if (it->second.state == "paused") {
      it->second.state = "running";
    }
    return {};
  }
  Result<std::string> disk_path(const std::string &name) override {
    std::lock_guard lock(m_w.mutex);
    auto it = m_w.domains.find(name);
    if (it == m_w.domains.end()) {
      return fail(fmt::format("no domain named '{}'", name));
    }
    return it->second.spec.disk;
  }
  /// Like libvirt: the overlay must exist; the memory file holds the domain as it is.
  Status snapshot(const std::string &name, const runtime::VmSnapshotSpec &spec) override {
    LTB_CHECK(m_w.faults.check("snapshot_domain", name));
    std::lock_guard lock(m_w.mutex);
    auto it = m_w.domains.find(name);
    if (it == m_w.domains.end() || it->second.state == "shutoff") {
      return fail(fmt::format("cannot snapshot VM '{}': not running", name));
    }
    if (!spec.disk_target.empty() && !m_w.overlays.count(spec.overlay)) {
      return fail(fmt::format("cannot open disk {}: No such file", spec.overlay));
    }
    if (!spec.memory_file.empty()) {
      m_w.saved[spec.memory_file] = it->second;
    }
    if (!spec.disk_target.empty()) {
      it->second.spec.disk = spec.overlay;
    }
    return {};
  }
  Result<runtime::VmInfo> restore(const std::string &memory_file, const std::string &saved_disk,
                                  const std::string &disk,
                                  const std::map<std::string, std::string> &metadata) override {
    LTB_CHECK(m_w.faults.check("restore_domain", memory_file));
    std::lock_guard lock(m_w.mutex);
    auto saved = m_w.saved.find(memory_file);
    if (saved == m_w.saved.end()) {
      return fail(fmt::format("cannot read the saved VM state {}: no such file", memory_file));
    }
    Domain d = saved->second;
    if (m_w.domains.count(d.spec.name)) {
      return fail(fmt::format("domain '{}' already exists", d.spec.name));
    }
    if (d.spec.disk == saved_disk) {
      d.spec.disk = disk;
    }
    if (!d.spec.disk.empty() && !m_w.overlays.count(d.spec.disk)) {
      return fail(fmt::format("cannot open disk {}: No such file", d.spec.disk));
    }
    for (const auto &nic : d.spec.nics) {
      if (nic.kind == "ethernet" && !m_w.ifaces.count({"", nic.source})) {
        return fail(fmt::format("cannot use tap {}: no such device", nic.source));
      }
    }
    d.spec.metadata = metadata;
    d.state = "running";
    d.persistent = false;
    d.restored_from = memory_file;
    m_w.domains[d.spec.name] = d;
    return info_of(d);
  }

private:
  /// Caller holds the mutex.
  void drop_ovs_taps(const Domain &d) {
    for (const auto &nic : d.spec.nics) {
      if (nic.kind == "ovs") {
        m_w.drop_iface("", nic.target);
        if (auto b = m_w.bridges.find(nic.source); b != m_w.bridges.end()) {
          b->second.ports.erase(nic.target);
        }
      }
    }
  }
  static runtime::VmInfo info_of(const Domain &d) {
    return {d.spec.name,     d.uuid,       d.state,          d.persistent,
            d.spec.metadata, d.spec.vcpus, d.spec.memory_mib};
  }
  World &m_w;
};

class FakeDhcp final : public net::Dhcp {
public:
  explicit FakeDhcp(World &world) : m_w(world) {}

  net::DhcpServerState state(const std::string &dir) override {
    std::lock_guard lock(m_w.mutex);
    auto it = m_w.dhcp.find(dir);
    if (it == m_w.dhcp.end()) {
      return {};
    }
    return {true, it->second.pid, it->second.spec.hosts_text};
  }
  Status apply(const net::DhcpServerSpec &spec) override {
    LTB_CHECK(m_w.faults.check("dhcp_apply", spec.dir));
    std::lock_guard lock(m_w.mutex);
    m_w.dhcp[spec.dir] = {spec, m_w.next_pid++};
    return {};
  }
  Status stop(const std::string &dir) override {
    LTB_CHECK(m_w.faults.check("dhcp_stop", dir));
    std::lock_guard lock(m_w.mutex);
    m_w.dhcp.erase(dir);
    return {};
  }

private:
  World &m_w;
};

/// Like net::host_port_proxies(): a lab's proxies by the lines they serve.
class FakePortProxies final : public net::PortProxies {
public:
  explicit FakePortProxies(World &world) : m_w(world) {}

  State state(const std::string &dir) override {
    std::lock_guard lock(m_w.mutex);
    State state;
    auto it = m_w.proxies.find(dir);
    if (it == m_w.proxies.end()) {
      return state;
    }
    state.present = true;
    std::vector<std::string> lines;
    for (const auto &proxy : it->second) {
      if (proxy.running) {
        lines.push_back(proxy.line);
      }
    }
    std::sort(lines.begin(), lines.end());
    for (const auto &line : lines) {
      state.running += line;
    }
    return state;
  }
  Status apply(const std::string &dir, const std::string &text) override {
    LTB_CHECK(m_w.faults.check("ports_apply", dir));
    LTB_TRY(wanted, net::parse_published_ports(text));
    std::lock_guard lock(m_w.mutex);
    auto &list = m_w.proxies[dir];
    std::erase_if(list, [&](const PortProxy &proxy) {
      return !proxy.running || std::none_of(wanted.begin(), wanted.end(), [&](const auto &port) {
        return port.line() == proxy.line;
      });
    });
    for (const auto &port : wanted) {
      if (std::any_of(list.begin(), list.end(),
                      [&](const PortProxy &proxy) { return proxy.line == port.line(); })) {
        continue;
      }
      if (m_w.taken_ports.count(fmt::format("{} {}", port.protocol, port.host_port))) {
        return fail(fmt::format("node '{}': cannot publish host port {}/{} on {}: listen: "
                                "address already in use",
                                port.node, port.host_port, port.protocol, port.host_ip));
      }
      list.push_back({port.line(), true});
    }
    return {};
  }
  Status stop(const std::string &dir) override {
    LTB_CHECK(m_w.faults.check("ports_stop", dir));
    std::lock_guard lock(m_w.mutex);
    m_w.proxies.erase(dir);
    return {};
  }

private:
  World &m_w;
};

/// Like net::host_firewall(): a lab's rules, all or some of them; an apply that fails leaves
/// none of them.
class FakeFirewall final : public net::HostFirewall {
public:
  explicit FakeFirewall(World &world) : m_w(world) {}

  Result<net::HostFirewallState> state(const std::string &lab) override {
    LTB_CHECK(m_w.faults.check("firewall_state", lab));
    std::lock_guard lock(m_w.mutex);
    auto it = m_w.firewall.find(lab);
    if (it == m_w.firewall.end()) {
      return net::HostFirewallState{};
    }
    return net::HostFirewallState{true, it->second.second, it->second.first};
  }
  Status apply(const net::HostFirewallSpec &spec) override {
    auto checked = m_w.faults.check("firewall_apply", spec.lab);
    std::lock_guard lock(m_w.mutex);
    if (!checked) {
      m_w.firewall.erase(spec.lab);
      return checked;
    }
    m_w.firewall[spec.lab] = {spec, true};
    return {};
  }
  Status remove(const std::string &lab) override {
    LTB_CHECK(m_w.faults.check("firewall_remove", lab));
    std::lock_guard lock(m_w.mutex);
    m_w.firewall.erase(lab);
    return {};
  }
  Status allow_bridge(const std::string &lab, const std::string &bridge) override {
    LTB_CHECK(m_w.faults.check("firewall_allow_bridge", bridge));
    std::lock_guard lock(m_w.mutex);
    m_w.forwarding.insert({lab, bridge});
    return {};
  }
  Status forget_bridge(const std::string &lab, const std::string &bridge) override {
    LTB_CHECK(m_w.faults.check("firewall_forget_bridge", bridge));
    std::lock_guard lock(m_w.mutex);
    m_w.forwarding.erase({lab, bridge});
    return {};
  }

private:
  World &m_w;
};

/// Like net::host_relay(): a link moves from its redirects into the relay when impaired, and
/// back; the relay needs both host interfaces; it stops when it serves nothing.
class FakeRelay final : public net::Relay {
public:
  explicit FakeRelay(World &world) : m_w(world) {}

  net::RelayState state(const std::string &dir) override {
    std::lock_guard lock(m_w.mutex);
    auto it = m_w.relays.find(dir);
    if (it == m_w.relays.end()) {
      return {};
    }
    return {it->second.running, it->second.running ? it->second.pid : 0, it->second.config};
  }
  Status set(const std::string &dir, const net::RelayLink &link, net::Direction direction,
             const net::Impairment &impairment) override {
    LTB_CHECK(m_w.faults.check("relay_set", link.key));
    std::lock_guard lock(m_w.mutex);
    for (const auto &iface : {link.a, link.b}) {
      if (!m_w.ifaces.count({"", iface})) {
        return fail(fmt::format("fake relay: no interface {}", iface));
      }
    }
    auto &relay = m_w.relays[dir];
    bool relayed = relay.config.count(link.key) != 0;
    net::RelayEntry entry = relayed ? relay.config[link.key] : net::RelayEntry{link, {}, {}};
    entry.link = link;
    (direction == net::Direction::a_to_b ? entry.a_to_b : entry.b_to_a) = impairment;
    if (!entry.empty()) {
      unredirect(link.a);
      unredirect(link.b);
      relay.config[link.key] = entry;
      start(relay);
    } else if (relayed) {
      relay.config.erase(link.key);
      m_w.redirects.insert({link.a, link.b});
      m_w.redirects.insert({link.b, link.a});
    }
    settle(dir);
    return {};
  }
  Status forget(const std::string &dir, const std::string &key) override {
    std::lock_guard lock(m_w.mutex);
    if (auto it = m_w.relays.find(dir); it != m_w.relays.end()) {
      it->second.config.erase(key);
      settle(dir);
    }
    return {};
  }
  Status resume(const std::string &dir) override {
    LTB_CHECK(m_w.faults.check("relay_resume", dir));
    std::lock_guard lock(m_w.mutex);
    if (auto it = m_w.relays.find(dir); it != m_w.relays.end() && !it->second.config.empty()) {
      start(it->second);
    }
    return {};
  }
  Status stop(const std::string &dir) override {
    std::lock_guard lock(m_w.mutex);
    m_w.relays.erase(dir);
    return {};
  }

private:
  void unredirect(const std::string &iface) {
    for (auto r = m_w.redirects.begin(); r != m_w.redirects.end();) {
      r = r->first == iface ? m_w.redirects.erase(r) : ++r;
    }
  }
  void start(RelayProcess &relay) {
    if (!relay.running) {
      relay.running = true;
      relay.pid = m_w.next_pid++;
    }
  }
  /// Nothing left to serve: the process stops and its files go.
  void settle(const std::string &dir) {
    if (m_w.relays[dir].config.empty()) {
      m_w.relays.erase(dir);
    }
  }
  World &m_w;
};

class FakeOverlays final : public runtime::Overlays {
public:
  explicit FakeOverlays(World &world) : m_w(world) {}

  Status create(const std::string &base, const std::string &overlay, const std::string &) override {
    LTB_CHECK(m_w.faults.check("create_overlay", overlay));
    std::lock_guard lock(m_w.mutex);
    if (base.empty()) {
      return fail("fake qemu-img: no base image");
    }
    m_w.overlays.insert(overlay);
    m_w.backing[overlay] = base;
    return {};
  }
  Status remove(const std::string &overlay) override {
    LTB_CHECK(m_w.faults.check("remove_overlay", overlay));
    std::lock_guard lock(m_w.mutex);
    m_w.overlays.erase(overlay);
    m_w.backing.erase(overlay);
    return {};
  }
  /// Like qemu-img: the layer must exist (a real file: imports write them), and so must the
  /// backing file.
  Status rebase_unsafe(const std::string &layer, const std::string &backing) override {
    LTB_CHECK(m_w.faults.check("rebase_overlay", layer));
    std::error_code ec;
    if (!std::filesystem::exists(layer, ec) || !std::filesystem::exists(backing, ec)) {
      return fail(
          fmt::format("fake qemu-img: cannot rebase {} on {}: no such file", layer, backing));
    }
    std::lock_guard lock(m_w.mutex);
    m_w.rebased[layer] = backing;
    m_w.backing[layer] = backing;
    return {};
  }
  Status link(const std::string &from, const std::string &to) override {
    LTB_CHECK(m_w.faults.check("link_overlay", to));
    std::lock_guard lock(m_w.mutex);
    if (!m_w.overlays.count(from) || m_w.overlays.count(to)) {
      return fail(fmt::format("cannot keep disk layer {} as {}", from, to));
    }
    m_w.overlays.insert(to);
    if (auto it = m_w.backing.find(from); it != m_w.backing.end()) {
      m_w.backing[to] = it->second;
    }
    return {};
  }
  Status move(const std::string &from, const std::string &to) override {
    LTB_CHECK(m_w.faults.check("move_overlay", to));
    std::lock_guard lock(m_w.mutex);
    if (!m_w.overlays.count(from)) {
      return fail(fmt::format("cannot rename disk {}: no such file", from));
    }
    m_w.overlays.erase(from);
    m_w.overlays.insert(to);
    m_w.backing[to] = m_w.backing[from];
    m_w.backing.erase(from);
    return {};
  }
  Result<std::vector<std::string>> files_under(const std::string &dir) override {
    std::lock_guard lock(m_w.mutex);
    std::vector<std::string> out;
    for (const auto &file : m_w.overlays) {
      if (file.rfind(dir + "/", 0) == 0) {
        out.push_back(file);
      }
    }
    return out;
  }
  Result<std::vector<std::string>> backing_chain(const std::string &image) override {
    std::lock_guard lock(m_w.mutex);
    std::vector<std::string> chain;
    for (auto it = m_w.backing.find(image); it != m_w.backing.end();
         it = m_w.backing.find(it->second)) {
      chain.push_back(it->second);
    }
    return chain;
  }

private:
  World &m_w;
};

/// Progress that keeps the notices and failures for assertions.
class RecordingProgress final : public event::Progress {
public:
  void node(const std::string &node, event::Phase phase, const std::string &detail) override {
    std::lock_guard lock(m_mutex);
    if (phase == event::Phase::failed) {
      failures.push_back(node + ": " + detail);
    }
  }
  void notice(const std::string &line) override {
    std::lock_guard lock(m_mutex);
    notices.push_back(line);
  }
  void finish() override {}
  std::vector<std::string> notices;
  std::vector<std::string> failures;

private:
  std::mutex m_mutex;
};

/// Docker's event stream, scripted: events a test push()es are delivered to the one watch() under
/// way when their labels match its filter; `breaks` makes that many watch() calls fail at once
/// (dockerd restarting), and every call's `since` is kept.
class FakeContainerEvents final : public runtime::ContainerEvents {
public:
  void push(runtime::ContainerEvent e) {
    std::lock_guard lock(m_mutex);
    m_pending.push_back(std::move(e));
  }
  Status watch(const std::map<std::string, std::string> &labels, std::int64_t since_ns,
               const std::function<void(const runtime::ContainerEvent &)> &on_event,
               const std::atomic<bool> &stop) override {
    {
      std::lock_guard lock(m_mutex);
      sinces.push_back(since_ns);
      if (breaks > 0) {
        --breaks;
        return fail("connection reset by peer");
      }
      watching = true;
    }
    while (!stop.load()) {
      std::vector<runtime::ContainerEvent> now;
      {
        std::lock_guard lock(m_mutex);
        now.swap(m_pending);
      }
      for (const auto &e : now) {
        bool match = true;
        for (const auto &[key, value] : labels) {
          auto it = e.attributes.find(key);
          match = match && it != e.attributes.end() && (value.empty() || it->second == value);
        }
        if (match && e.time_ns >= since_ns) {
          on_event(e);
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return {};
  }
  std::atomic<bool> watching{false};
  int breaks = 0;
  std::vector<std::int64_t> sinces;

private:
  std::mutex m_mutex;
  std::vector<runtime::ContainerEvent> m_pending;
};

/// libvirt's domain events: pushed events are delivered (filtered by metadata) to a watch, which
/// listens at once; `breaks` makes that many watches fail first.
class FakeVmEvents final : public runtime::VmEvents {
public:
  void push(runtime::VmEvent e) {
    std::lock_guard lock(m_mutex);
    m_pending.push_back(std::move(e));
  }
  Status watch(const std::map<std::string, std::string> &metadata,
               const std::function<void(const runtime::VmEvent &)> &on_event,
               const std::atomic<bool> &stop, const std::function<void()> &listening) override {
    {
      std::lock_guard lock(m_mutex);
      ++watches;
      if (breaks > 0) {
        --breaks;
        return fail("lost the connection to libvirt");
      }
    }
    listening();
    while (!stop.load()) {
      std::vector<runtime::VmEvent> now;
      {
        std::lock_guard lock(m_mutex);
        now.swap(m_pending);
      }
      for (const auto &e : now) {
        bool match = true;
        for (const auto &[key, value] : metadata) {
          auto it = e.metadata.find(key);
          match = match && it != e.metadata.end() && (value.empty() || it->second == value);
        }
        if (match) {
          on_event(e);
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return {};
  }
  std::atomic<int> breaks{0};
  std::atomic<int> watches{0};

private:
  std::mutex m_mutex;
  std::vector<runtime::VmEvent> m_pending;
};

/// Netlink's link notifications: the carrier of interfaces by (namespace key, name). A watch
/// reports the state of every interface of its namespaces first (the dump), then each set().
class FakeLinkEvents final : public net::LinkEvents {
public:
  void set(const std::string &netns, const std::string &ifname, bool carrier) {
    std::lock_guard lock(m_mutex);
    m_state[{netns, ifname}] = carrier;
    m_pending.push_back({netns, ifname, carrier});
  }
  Status watch(const std::vector<net::WatchedNetns> &namespaces,
               const std::function<void(const net::CarrierReport &)> &on_report,
               const std::function<void(const std::string &, const std::string &)> &,
               const std::atomic<bool> &stop, const std::function<bool()> &again,
               const std::function<void()> &listening) override {
    std::set<std::string> keys;
    for (const auto &ns : namespaces) {
      keys.insert(ns.key);
    }
    std::vector<net::CarrierReport> now;
    {
      std::lock_guard lock(m_mutex);
      m_watched.push_back(namespaces);
      m_pending.clear();
      for (const auto &[where, carrier] : m_state) {
        if (keys.count(where.first)) {
          now.push_back({where.first, where.second, carrier});
        }
      }
    }
    for (const auto &report : now) {
      on_report(report);
    }
    listening();
    while (!stop.load() && !again()) {
      now.clear();
      {
        std::lock_guard lock(m_mutex);
        for (auto &report : m_pending) {
          if (keys.count(report.netns)) {
            now.push_back(report);
          }
        }
        m_pending.clear();
      }
      for (const auto &report : now) {
        on_report(report);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return {};
  }
  /// The namespaces of every watch so far.
  std::vector<std::vector<net::WatchedNetns>> watches() {
    std::lock_guard lock(m_mutex);
    return m_watched;
  }

private:
  std::mutex m_mutex;
  std::map<std::pair<std::string, std::string>, bool> m_state;
  std::vector<net::CarrierReport> m_pending;
  std::vector<std::vector<net::WatchedNetns>> m_watched;
};

/// Every fake over one World, and the Backends that hand them to apply/ (the store is the
/// test's).
struct FakeBackends {
  World world;
  FakeDocker docker{world};
  FakeNetlink netlink{world};
  FakeOvs ovs{world};
  FakeLibvirt vms{world};
  FakeHostNet host{world};
  FakeDhcp dhcp{world};
  FakeOverlays overlays{world};
  FakeRelay relay{world};
  FakeTc tc{world};
  FakeFirewall firewall{world};
  FakePortProxies ports{world};

  apply::Backends backends(state::Store &store) {
    apply::Backends b;
    b.docker = &docker;
    b.netlink = &netlink;
    b.ovs = &ovs;
    b.store = &store;
    b.vms = &vms;
    b.host = &host;
    b.dhcp = &dhcp;
    b.overlays = &overlays;
    b.relay = &relay;
    b.tc = &tc;
    b.firewall = &firewall;
    b.ports = &ports;
    return b;
  }
};

} // namespace ltb::fakes
