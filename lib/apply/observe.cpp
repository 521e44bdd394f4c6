#include "apply/observe.hpp"

#include "apply/drivers/driver.hpp"
#include "plan/names.hpp"

namespace ltb::apply {

Result<plan::Recorded> read_recorded(state::Store &store, const std::string &lab) {
  plan::Recorded recorded;
  LTB_TRY(record, store.lab(lab));
  recorded.lab = record;
  LTB_TRY(nodes, store.nodes(lab));
  recorded.nodes = std::move(nodes);
  LTB_TRY(links, store.links(lab));
  recorded.links = std::move(links);
  LTB_TRY(objects, store.objects(lab));
  recorded.objects = std::move(objects);
  return recorded;
}

Result<plan::Observed> observe(const std::string &lab, Backends &backends,
                               const ObserveOptions &options) {
  plan::Observed observed;
  LTB_CHECK(node_driver(topology::Runtime::container).observe(backends, lab, observed));
  if (options.networks) {
    LTB_TRY(networks, backends.docker->list_networks({{plan::k_label_lab, lab}}));
    for (const auto &network : networks) {
      observed.networks.insert(network.name);
      if (!network.subnet.empty()) {
        observed.network_subnets[network.name] = network.subnet;
      }
      if (!network.subnet6.empty()) {
        observed.network_subnets6[network.name] = network.subnet6;
      }
    }
  }
  if (options.bridges) {
    LTB_CHECK(node_driver(topology::Runtime::ovs_bridge).observe(backends, lab, observed));
  }
  LTB_CHECK(node_driver(topology::Runtime::vm).observe(backends, lab, observed));
  if (backends.netlink && backends.store) {
    LTB_CHECK(node_driver(topology::Runtime::linux_bridge).observe(backends, lab, observed));
  }
  if (backends.docker && backends.store) {
    LTB_CHECK(node_driver(topology::Runtime::external).observe(backends, lab, observed));
  }
  if (!options.lab_dir.empty()) {
    if (auto dhcp = backends.dhcp->state(options.lab_dir); dhcp.running) {
      observed.dhcp_hosts = dhcp.hosts_text;
    }
    if (auto ports = backends.ports->state(options.lab_dir); ports.present) {
      observed.published_ports = ports.running;
    }
    if (auto relay = backends.relay->state(options.lab_dir);
        relay.running || !relay.config.empty()) {
      observed.relay_running = relay.running;
    }
    // Tables that cannot be read (no iptables, not root) hold none of the lab's rules that ltb
    // could see: a confined lab then plans to install them, and that fails with the reason.
    if (auto firewall = backends.firewall->state(lab); firewall && firewall->present) {
      observed.firewall_present = true;
      if (firewall->complete) {
        observed.firewall = plan::FirewallRules{firewall->spec.interface, firewall->spec.dhcp,
                                                firewall->spec.links};
      }
    }
  }
  if (options.host_links) {
    for (auto type : {LinkType::veth, LinkType::tap_redirect, LinkType::ovs_port}) {
      LTB_CHECK(link_driver(type).observe(backends, lab, observed));
    }
  }
  return observed;
}

Result<std::optional<plan::ExternalNetwork>>
foreign_network(Backends &backends, const std::string &lab, const std::string &name) {
  LTB_TRY(networks, backends.docker->list_networks({}));
  for (const auto &network : networks) {
    if (network.name != name) {
      continue;
    }
    auto label = network.labels.find(plan::k_label_lab);
    if (label == network.labels.end() || label->second != lab) {
      return plan::ExternalNetwork{network.name,
                                   network.id,
                                   network.subnet,
                                   network.gateway,
                                   label == network.labels.end() ? "" : label->second,
                                   network.subnet6};
    }
  }
  return std::nullopt;
}

Result<std::vector<std::string>> used_subnets(Backends &backends, const std::string &except_lab) {
  std::vector<std::string> subnets;
  LTB_TRY(networks, backends.docker->list_networks({}));
  for (const auto &network : networks) {
    if (!network.subnet.empty()) {
      subnets.push_back(network.subnet);
    }
  }
  LTB_TRY(labs, backends.store->labs());
  for (const auto &lab : labs) {
    if (lab.name != except_lab && !lab.mgmt_subnet.empty()) {
      subnets.push_back(lab.mgmt_subnet);
    }
  }
  return subnets;
}

} // namespace ltb::apply
