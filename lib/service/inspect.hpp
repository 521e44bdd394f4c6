#pragma once
// `ltb inspect LAB`: one lab in detail, as data (the CLI renders it as a table or JSON). Reads
// the state file, the lab's access files and, for a lab with VMs, what libvirt says of them.

#include "access/access_files.hpp"
#include "access/keys.hpp"
#include "capture/records.hpp"
#include "runtime/libvirt/libvirt.hpp"
#include "service/service.hpp"
#include "state/store.hpp"

#include <optional>
#include <string>
#include <vector>

namespace ltb::service {

struct InterfaceDetails {
  std::string name;
  std::string link;    // "mgmt" for eth0
  std::string peer;    // NODE:IFACE at the other end; "" for eth0
  std::string address; // eth0 only
};

struct VmDetails {
  std::optional<runtime::VmInfo> info; // nullopt: missing, or libvirt not reachable
  bool libvirt = false;                // libvirt answered
  std::string accel;                   // "-" when the domain does not say
  std::string console_log;
};

struct NodeDetails {
  state::NodeRecord record;
  bool bridge = false;
  std::string runtime_name; // container or domain name; a bridge's Open vSwitch bridge
  std::vector<InterfaceDetails> interfaces; // eth0 first (not for a bridge), then link ends
  std::optional<access::NodeReach> reach;   // how to log in, when it can be reached
  std::optional<VmDetails> vm;              // VMs only
};

struct LinkDetails {
  state::LinkRecord record;
  std::string type; // "veth", "tap" (a VM end) or "segment" (a bridge end)
};

struct LabDetails {
  state::LabRecord lab;
  std::vector<NodeDetails> nodes;
  std::vector<LinkDetails> links;
  std::vector<capture::ActiveCapture> captures; // whose process runs
  access::LabPaths access;
  bool access_files = false; // ssh_config and the others were written
};

/// The lab in detail; "no lab named X" (with a did-you-mean) when the state file has none.
Result<LabDetails> inspect_lab(const Session &session, const std::string &lab);

} // namespace ltb::service
