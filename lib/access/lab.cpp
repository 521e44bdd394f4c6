#include "access/lab.hpp"

#include "access/access_files.hpp"
#include "access/keys.hpp"
#include "access/known_hosts.hpp"
#include "topology/kinds.hpp"

namespace ltb::access {

namespace {

std::vector<NodeIdentity> identities(const std::vector<state::NodeRecord> &nodes) {
  std::vector<NodeIdentity> out;
  for (const auto &node : nodes) {
    if (topology::is_workload(topology::runtime_of_kind(node.kind))) {
      out.push_back({node.name, node.mgmt_ipv4, node.runtime_id});
    }
  }
  return out;
}

} // namespace

Status prepare_lab(const std::string &lab_dir, const topology::Topology &desired) {
  LTB_TRY(key, ensure_lab_key(lab_dir, desired.name));
  (void)key;
  return write_logins(lab_dir, desired);
}

Status finish_lab(state::Store &store, const std::string &lab_dir,
                  const topology::Topology &desired, const std::vector<state::NodeRecord> &before,
                  bool complete) {
  LTB_TRY(after, store.nodes(desired.name));
  LTB_CHECK(sync_known_hosts_file(LabPaths{lab_dir}.known_hosts(), identities(before),
                                  identities(after)));
  if (!complete) {
    return {};
  }
  LTB_TRY(lab, store.lab(desired.name));
  const std::string network = lab ? lab->mgmt_network : desired.mgmt.network;
  const std::string subnet = lab ? lab->mgmt_subnet : desired.mgmt.ipv4_subnet;
  return write_access_files(lab_access(desired, after, lab_dir, network, subnet));
}

} // namespace ltb::access
