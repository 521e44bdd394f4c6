#pragma once
// `ltb inspect LAB`: one lab in detail, as data (the CLI renders it as a table or JSON). Reads
// the state file, the lab's access files, for a lab with VMs what libvirt says of them, and
// each node's device details: its image's version (service/catalog) and the software version
// the running node reports, asked of all nodes at once with a short timeout.

#include "access/access_files.hpp"
#include "access/keys.hpp"
#include "capture/records.hpp"
#include "runtime/libvirt/libvirt.hpp"
#include "service/catalog.hpp"
#include "service/service.hpp"
#include "state/store.hpp"

#include <map>
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

/// A node as a device: its group and labels (from the recorded topology), its image as the
/// catalog sees it (version, state) and the software version it reports.
struct DeviceDetails {
  bool topology = false; // group and labels are known (the recorded topology loaded)
  std::string group;
  std::map<std::string, std::string> labels;
  std::optional<CatalogImage> image; // nullopt: it runs none (a bridge)
  RunningVersion running;
};

struct NodeDetails {
  state::NodeRecord record;
  bool bridge = false;
  std::string runtime_name; // container or domain name; a bridge's Open vSwitch bridge
  std::vector<InterfaceDetails> interfaces; // eth0 first (not for a bridge), then link ends
  std::optional<access::NodeReach> reach;   // how to log in, when it can be reached
  std::optional<VmDetails> vm;              // VMs only
  DeviceDetails device;
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
  /// A confined lab's host firewall: the management interface whose traffic to the host is
  /// refused (net/host_firewall.hpp), as recorded; "" when none is recorded.
  std::string host_firewall;
  access::LabPaths access;
  bool access_files = false; // ssh_config and the others were written
};

/// Where the device details come from: Docker and the VM images (CatalogSources; its store is
/// inspect's own) and the way a command reaches a running node.
struct DeviceSources {
  CatalogSources catalog;
  NodeCommand run;
};

/// The lab in detail; "no lab named X" (with a did-you-mean) when the state file has none.
/// Docker, ssh and $LTB_IMAGES give the device details.
Result<LabDetails> inspect_lab(const Session &session, const std::string &lab);

/// The same with the given device sources (tests give fakes).
Result<LabDetails> inspect_lab(const Session &session, const std::string &lab,
                               DeviceSources devices);

} // namespace ltb::service
