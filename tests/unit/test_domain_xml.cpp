// Tests of lib/runtime/libvirt/domain_xml: the domain XML of a VM node (golden files) and the
// metadata labels read back from libvirt.

#include "runtime/libvirt/domain_xml.hpp"
#include "testutil.hpp"

#include <cstdlib>
#include <doctest/doctest.h>
#include <fstream>
#include <sstream>
#include <string>

using namespace ltb::runtime;

namespace {

// By field name: VmNic grows fields, and positional braces would silently shift them.
VmNic nic(std::string kind, std::string source, std::string mac, std::string model = "virtio",
          std::string target = {}) {
  VmNic n;
  n.kind = std::move(kind);
  n.source = std::move(source);
  n.mac = std::move(mac);
  n.model = std::move(model);
  n.target = std::move(target);
  return n;
}

std::string golden_path(const std::string &name) {
  return std::string(LTB_TEST_DATA) + "/domain_xml/" + name;
}

// Compares with the golden file; LTB_UPDATE_GOLDEN=1 rewrites it instead (then review the diff).
void check_golden(const std::string &name, const std::string &actual) {
  const auto path = golden_path(name);
  if (const char *update = std::getenv("LTB_UPDATE_GOLDEN"); update != nullptr && *update == '1') {
    // A rewritten golden file matches by definition: in CI that would be a test that cannot fail.
    CHECK_MESSAGE(!ltb::test::in_ci(),
                  "LTB_UPDATE_GOLDEN=1 with CI=true: " << name << " is not compared");
    std::ofstream(path) << actual;
  }
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "missing golden file ", path);
  std::stringstream expected;
  expected << in.rdbuf();
  CHECK(actual == expected.str());
}

VmSpec kernel_boot_spec() {
  VmSpec spec;
  spec.name = "ltb-lab1-vm1";
  spec.uuid = "6f1c8a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
  spec.accel = "qemu";
  spec.vcpus = 2;
  spec.memory_mib = 512;
  spec.disk = "/var/lib/ltb/labs/lab1/vm1.qcow2";
  spec.kernel = "/var/lib/ltb/images/vmlinuz";
  spec.initrd = "/var/lib/ltb/images/initrd.gz";
  spec.cmdline = "console=ttyS0 ltb.node=vm1 quiet";
  spec.nics = {
      nic("bridge", "ltb-mgmt0", "52:54:00:12:34:00"),
      nic("ovs", "ltb-seg1", "52:54:00:12:34:01", "virtio", "ltbt-vm1-e1"),
      nic("ethernet", "ltbt-vm1-e2", "52:54:00:12:34:02", "e1000"),
  };
  spec.metadata = {{"ltb-config-hash", "abc123"},
                   {"ltb-lab", "lab1"},
                   {"ltb-node", "vm1"},
                   {"ltb-owner", "alice"}};
  spec.serial_log = "/var/lib/ltb/labs/lab1/vm1.console.log";
  return spec;
}

VmSpec disk_boot_spec() {
  VmSpec spec;
  spec.name = "ltb-lab2-r1";
  spec.accel = "kvm";
  spec.vcpus = 1;
  spec.memory_mib = 1024;
  spec.disk = "/srv/overlays/r1.qcow2";
  spec.nics = {nic("bridge", "br-mgmt", "52:54:00:aa:bb:cc")};
  spec.metadata = {{"ltb-lab", "lab2"}, {"ltb-node", "r1"}};
  return spec;
}

} // namespace

TEST_CASE("domain xml: kernel-boot TCG VM with a Linux bridge, an OVS bridge and a tap") {
  const auto xml = domain_xml(kernel_boot_spec());
  check_golden("kernel_boot_qemu.xml", xml);
  // The properties the golden file is there to pin, checked on their own so that a careless
  // golden update does not lose them.
  CHECK(xml.find("<domain type='qemu'>") == 0);
  CHECK(xml.find("host-passthrough") == std::string::npos);
  CHECK(xml.find("<kernel>/var/lib/ltb/images/vmlinuz</kernel>") != std::string::npos);
  CHECK(xml.find("<boot dev=") == std::string::npos);
  CHECK(xml.find("<virtualport type='openvswitch'/>") != std::string::npos);
  // The OVS NIC's host tap is named, so that ltb finds its OVS port; the others are libvirt's.
  CHECK(xml.find("<target dev='ltbt-vm1-e1'/>") != std::string::npos);
  // NIC 0 was given no target: libvirt names its tap.
  const auto nic0 =
      xml.substr(xml.find("<interface"), xml.find("</interface>") - xml.find("<interface"));
  CHECK(nic0.find("ltb-mgmt0") != std::string::npos);
  CHECK(nic0.find("<target") == std::string::npos);
  CHECK(xml.find("<target dev='ltbt-vm1-e2' managed='no'/>") != std::string::npos);
  CHECK(xml.find("<log file='/var/lib/ltb/labs/lab1/vm1.console.log'") != std::string::npos);
  CHECK(xml.find("<graphics") == std::string::npos);
  // NICs in the given order.
  const auto mgmt = xml.find("52:54:00:12:34:00");
  const auto ovs = xml.find("52:54:00:12:34:01");
  const auto tap = xml.find("52:54:00:12:34:02");
  CHECK(mgmt < ovs);
  CHECK(ovs < tap);
}

TEST_CASE("domain xml: disk-boot KVM VM") {
  const auto xml = domain_xml(disk_boot_spec());
  check_golden("disk_boot_kvm.xml", xml);
  CHECK(xml.find("<domain type='kvm'>") == 0);
  CHECK(xml.find("<cpu mode='host-passthrough'/>") != std::string::npos);
  CHECK(xml.find("<boot dev='hd'/>") != std::string::npos);
  CHECK(xml.find("<kernel>") == std::string::npos);
  CHECK(xml.find("<uuid>") == std::string::npos);
  CHECK(xml.find("<log ") == std::string::npos);
  CHECK(xml.find("<virtualport") == std::string::npos);
}

TEST_CASE("domain xml: values are escaped") {
  VmSpec spec;
  spec.name = "a&b<c>";
  spec.cmdline = "x='1' y=\"2\" z&";
  spec.kernel = "/k";
  spec.nics = {nic("bridge", "br'0", "")};
  spec.metadata = {{"k\"ey", "v<a>l&ue's"}};
  const auto xml = domain_xml(spec);
  CHECK(xml.find("<name>a&amp;b&lt;c&gt;</name>") != std::string::npos);
  CHECK(xml.find("<cmdline>x=&apos;1&apos; y=&quot;2&quot; z&amp;</cmdline>") != std::string::npos);
  CHECK(xml.find("<source bridge='br&apos;0'/>") != std::string::npos);
  CHECK(xml.find("<ltb:label key='k&quot;ey'>v&lt;a&gt;l&amp;ue&apos;s</ltb:label>") !=
        std::string::npos);
  // No MAC given: none written, libvirt picks one.
  CHECK(xml.find("<mac ") == std::string::npos);
  // What domain_xml writes reads back to the same pairs.
  CHECK(parse_metadata_labels(xml) == spec.metadata);
}

TEST_CASE("domain xml: metadata labels read back in the form libvirt returns them") {
  // virDomainGetMetadata re-serialises with libxml2: prefix dropped, double quotes, entities.
  const std::string from_libvirt = "<labels>\n"
                                   "  <label key=\"ltb-lab\">lab1</label>\n"
                                   "  <label key=\"ltb-node\">r&amp;1 &lt;x&gt;</label>\n"
                                   "  <label key=\"a&quot;b\">it&apos;s &#233;&#x41;</label>\n"
                                   "  <label key=\"empty\"/>\n"
                                   "  <label key=\"label \">labels</label>\n"
                                   "</labels>\n";
  const std::map<std::string, std::string> expected{{"ltb-lab", "lab1"},
                                                    {"ltb-node", "r&1 <x>"},
                                                    {"a\"b", "it's \xc3\xa9"
                                                             "A"},
                                                    {"empty", ""},
                                                    {"label ", "labels"}};
  CHECK(parse_metadata_labels(from_libvirt) == expected);

  // With the prefix kept, single quotes.
  CHECK(parse_metadata_labels("<ltb:labels xmlns:ltb='x'><ltb:label key='k'>v</ltb:label>"
                              "</ltb:labels>") == std::map<std::string, std::string>{{"k", "v"}});
  // Other elements and a label without a key are not labels.
  CHECK(parse_metadata_labels("<labels><other key='a'>b</other><label>c</label>"
                              "<labelx key='d'>e</labelx></labels>")
            .empty());
  CHECK(parse_metadata_labels("").empty());
}

TEST_CASE("a saved domain's XML: its name and disk read, the disk moved to a new file") {
  // As libvirt writes it into a saved state (virsh save-image-dumpxml), abridged.
  const std::string saved = R"(<domain type='qemu'>
  <name>ltb-lab-vm1</name>
  <uuid>c109adf0-fd16-4dba-8115-5975f2f0120b</uuid>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='cdrom'>
      <source file='/srv/iso &amp; more.iso'/>
      <target dev='hdc' bus='ide'/>
    </disk>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/ltb/labs/lab/vm1/disk-17.qcow2'/>
      <target dev='vda' bus='virtio'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>
    </disk>
    <interface type='ethernet'>
      <mac address='52:54:00:e5:b7:9f'/>
      <target dev='lvabc' managed='no'/>
    </interface>
  </devices>
</domain>
)";
  CHECK(ltb::runtime::domain_name_of(saved) == "ltb-lab-vm1");
  CHECK(ltb::runtime::disk_source(saved) == "/var/lib/ltb/labs/lab/vm1/disk-17.qcow2");
  const auto moved = ltb::runtime::replace_disk_source(
      saved, "/var/lib/ltb/labs/lab/vm1/disk-17.qcow2", "/var/lib/ltb/labs/lab/vm1/disk.qcow2");
  CHECK(ltb::runtime::disk_source(moved) == "/var/lib/ltb/labs/lab/vm1/disk.qcow2");
  CHECK(moved.find("disk-17") == std::string::npos);
  // Everything else stays: the CD-ROM, the device addresses, the NIC's MAC and tap.
  CHECK(moved.find("iso &amp; more.iso") != std::string::npos);
  CHECK(moved.find("slot=\"0x03\"") != std::string::npos);
  CHECK(moved.find("52:54:00:e5:b7:9f") != std::string::npos);
  CHECK(moved.find("lvabc") != std::string::npos);
  // A file it does not have, an empty one, or XML that does not parse: unchanged.
  CHECK(ltb::runtime::replace_disk_source(saved, "/other.qcow2", "/x.qcow2") == saved);
  CHECK(ltb::runtime::replace_disk_source(saved, "", "/x.qcow2") == saved);
  CHECK(ltb::runtime::replace_disk_source("<domain", "a", "b") == "<domain");
  CHECK(ltb::runtime::disk_source("<domain><devices/></domain>").empty());
  CHECK(ltb::runtime::domain_name_of("not xml").empty());
}

TEST_CASE("the metadata element alone reads back as the labels it holds") {
  const std::map<std::string, std::string> labels{{"ltb.lab", "a&b"}, {"ltb.node", "vm<1>"}};
  const auto xml = ltb::runtime::metadata_xml(labels);
  CHECK(xml.find("xmlns") == std::string::npos); // libvirt adds the namespace
  CHECK(ltb::runtime::parse_metadata_labels(xml) == labels);
}
