#pragma once
// What a VM node is (VmSpec) and its libvirt domain XML. Pure: no libvirt calls, so the XML is
// golden-tested without a daemon. Depends on nothing ltb-specific.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ltb::runtime {

struct VmNic {
  // "bridge": a Linux bridge; "ovs": an Open vSwitch bridge (virtualport openvswitch);
  // "ethernet": a tap device the caller created (libvirt must not manage it).
  std::string kind;
  std::string source; // bridge name, or tap name for "ethernet"
  std::string mac;    // empty = libvirt picks one
  std::string target; // "bridge"/"ovs": the host tap's name (an OVS port is named after it);
                      // empty = libvirt's vnetN
  std::string model = "virtio";
};

struct VmSpec {
  std::string name;
  std::string uuid;           // empty = libvirt generates one
  std::string accel = "qemu"; // "kvm" | "qemu" (TCG)
  int vcpus = 1;
  std::int64_t memory_mib = 256;
  std::string disk; // overlay image path; empty = no disk
  std::string disk_format = "qcow2";
  std::string kernel, initrd, cmdline; // direct kernel boot when kernel is set, else boot from disk
  std::vector<VmNic> nics;             // in guest order; NIC 0 is the management NIC
  std::map<std::string, std::string> metadata; // ltb lab/node/owner/config-hash
  std::string serial_log; // file the serial console is also logged to; empty = none
};

/// XML namespace of the <metadata> element that carries VmSpec::metadata.
inline constexpr const char *k_metadata_ns = "https://ltb.invalid/xmlns/1";

/// The domain XML for virDomainCreateXML. Values are XML-escaped.
std::string domain_xml(const VmSpec &spec);

/// The metadata element alone, as virDomainSetMetadata takes it: without a namespace (libvirt
/// adds k_metadata_ns).
std::string metadata_xml(const std::map<std::string, std::string> &metadata);

/// The `<name>` of a domain XML; "" when it has none.
std::string domain_name_of(const std::string &xml);

/// The file of the first `<disk type='file' device='disk'>` of a domain XML; "" when none.
std::string disk_source(const std::string &xml);

/// The domain XML with every disk `<source file='FROM'/>` naming `to` instead. Unchanged when
/// `from` is empty or not found.
std::string replace_disk_source(const std::string &xml, const std::string &from,
                                const std::string &to);

/// Reads the key/value pairs back from the metadata element as libvirt returns it
/// (virDomainGetMetadata: `<labels><label key="k">v</label>...</labels>`, prefix dropped or not).
std::map<std::string, std::string> parse_metadata_labels(const std::string &xml);

} // namespace ltb::runtime
