#pragma once
// `ltb save`: each node's running configuration, collected into a directory with a copy of the
// lab's file whose saved nodes start from it, so that `ltb up DIR/topology.yaml` brings the lab
// back as it runs now.

#include "service/service.hpp"
#include "util/error.hpp"

#include <string>
#include <vector>

namespace ltb::service {

struct SaveRequest {
  std::string lab;                // "" = the caller's only lab (only_lab())
  std::vector<std::string> nodes; // empty = every node
  std::string dir;                // "" = LAB-saved in the current directory
};

struct SavedNode {
  std::string node;
  std::string file; // absolute path of the saved config
  std::string how;  // "vtysh show running-config", "cat /etc/...", ...
};

struct SkippedNode {
  std::string node;
  std::string reason;
};

struct SaveOutcome {
  std::string lab;
  std::string dir;      // absolute
  std::string topology; // DIR/topology.yaml
  std::vector<SavedNode> saved;
  std::vector<SkippedNode> skipped; // nothing to save, or not reachable now
  std::vector<Error> errors;        // nodes whose save failed
  bool ok() const { return errors.empty(); }
};

/// A running configuration as a node printed it (`vtysh -c 'show running-config'`), without the
/// banner vtysh puts before it ("Building configuration...", "Current configuration:"), so that
/// it reads like the file FRR writes. Shared by `ltb save` and `ltb snapshot create`.
std::string running_config_text(const std::string &shown);

/// Saves the nodes' configurations: an FRR node's `show running-config` into DIR/NODE/frr.conf
/// (and `write memory` inside it), another node's startup-config file as the node has it now
/// (through Docker's exec for a container, ssh for a VM) into DIR/NODE/; then DIR/topology.yaml.
/// Bridges and nodes without a startup-config are skipped with the reason. An Error when nothing
/// could be started (unknown lab or node, the lab's file no longer loads, DIR not writable).
Result<SaveOutcome> save_lab(const Session &session, const SaveRequest &request);

} // namespace ltb::service
