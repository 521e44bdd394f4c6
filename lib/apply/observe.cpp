#include "apply/observe.hpp"

#include "net/dhcp.hpp"
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
  LTB_TRY(containers, backends.docker->list_containers({{plan::k_label_lab, lab}}));
  for (const auto &container : containers) {
    auto node = container.labels.find(plan::k_label_node);
    if (node == container.labels.end()) {
      continue;
    }
    auto hash = container.labels.find(plan::k_label_hash);
    observed.containers[node->second] = {container.id, container.name, container.state,
                                         hash == container.labels.end() ? "" : hash->second};
  }
  if (options.networks) {
    LTB_TRY(networks, backends.docker->list_networks({{plan::k_label_lab, lab}}));
    for (const auto &network : networks) {
      observed.networks.insert(network.name);
    }
  }
  if (options.bridges) {
    if (!backends.ovs) {
      return fail("Open vSwitch is needed for this lab's bridges");
    }
    LTB_TRY(bridges, backends.ovs->bridges({{plan::k_ovs_lab, lab}}));
    for (const auto &bridge : bridges) {
      auto owner = bridge.external_ids.find(plan::k_ovs_owner);
      if (owner == bridge.external_ids.end()) {
        continue;
      }
      plan::ObservedBridge observed_bridge{bridge.name, {bridge.ports.begin(), bridge.ports.end()}};
      observed.bridges[owner->second] = std::move(observed_bridge);
    }
  }
  if (backends.vms) {
    LTB_TRY(domains, backends.vms->list({{plan::k_label_lab, lab}}));
    for (const auto &domain : domains) {
      auto node = domain.metadata.find(plan::k_label_node);
      if (node == domain.metadata.end()) {
        continue;
      }
      auto hash = domain.metadata.find(plan::k_label_hash);
      observed.vms[node->second] = {domain.uuid, domain.name, domain.state,
                                    hash == domain.metadata.end() ? "" : hash->second};
    }
  }
  if (!options.lab_dir.empty()) {
    if (auto dhcp = backends.dhcp->state(options.lab_dir); dhcp.running) {
      observed.dhcp_hosts = dhcp.hosts_text;
    }
  }
  if (options.host_links) {
    for (const auto &prefix : {plan::veth_prefix(lab), plan::bridge_prefix(lab)}) {
      LTB_TRY(links, backends.netlink->list_links(prefix));
      observed.host_links.insert(observed.host_links.end(), links.begin(), links.end());
    }
  }
  return observed;
}

Result<std::optional<runtime::NetworkInfo>>
foreign_network(Backends &backends, const std::string &lab, const std::string &name) {
  LTB_TRY(networks, backends.docker->list_networks({}));
  for (const auto &network : networks) {
    if (network.name != name) {
      continue;
    }
    auto label = network.labels.find(plan::k_label_lab);
    if (label == network.labels.end() || label->second != lab) {
      return network;
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
