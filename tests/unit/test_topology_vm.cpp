// The vm kind of the topology loader: image resolution (disk paths and ltb VM images in
// $LTB_IMAGES), VM fields and their defaults, the fields that belong to one runtime only, and every
// diagnostic about them. Each test has its own images directory, named by LTB_IMAGES.

#include "topology/loader.hpp"

#include <cstdlib>
#include <doctest/doctest.h>

#include "testutil.hpp"
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;
using namespace ltb::topology;

/// A fresh directory for the topology file, with an empty images directory in it that
/// LTB_IMAGES names until the end of the test (then LTB_IMAGES is put back as it was).
class VmLab {
public:
  VmLab() {
    std::string pattern = (fs::temp_directory_path() / "ltb-topology-XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    m_path = pattern;
    fs::create_directories(images());
    if (const char *old = std::getenv("LTB_IMAGES")) {
      m_old_images = old;
    }
    setenv("LTB_IMAGES", images().c_str(), 1);
  }
  ~VmLab() {
    if (m_old_images) {
      setenv("LTB_IMAGES", m_old_images->c_str(), 1);
    } else {
      unsetenv("LTB_IMAGES");
    }
    std::error_code ec;
    fs::remove_all(m_path, ec);
  }
  VmLab(const VmLab &) = delete;
  VmLab &operator=(const VmLab &) = delete;

  const fs::path &path() const { return m_path; }
  fs::path images() const { return m_path / "images"; }
  std::string at(const std::string &relative) const { return (m_path / relative).string(); }

  /// A file with dummy content, relative to the lab directory.
  void file(const std::string &relative, const std::string &content = "x") const {
    fs::create_directories((m_path / relative).parent_path());
    std::ofstream(m_path / relative, std::ios::binary) << content;
  }

  /// An ltb VM image: images/NAME/image.json and a dummy file for each of FILES.
  void image(const std::string &name, const std::string &json,
             const std::vector<std::string> &files = {}) const {
    file("images/" + name + "/image.json", json);
    for (const auto &f : files) {
      file("images/" + name + "/" + f);
    }
  }

  /// The usual small image: a disk, a kernel, an initrd and a command line.
  void standard_image(const std::string &name = "ltb-vm") const {
    image(name,
          R"({"disk": "disk.qcow2", "kernel": "boot/vmlinuz", "initrd": "boot/initrd.img",
              "cmdline": "console=ttyS0"})",
          {"disk.qcow2", "boot/vmlinuz", "boot/initrd.img"});
  }

  Topology load_ok(const std::string &yaml) const {
    Diagnostics warnings;
    LoadOptions options;
    options.warnings = &warnings;
    auto result = load_text(yaml, "lab.yaml", m_path.string(), options);
    if (!result) {
      FAIL(render(result.error(), false));
    }
    CHECK_MESSAGE(warnings.items.empty(), render(warnings, false));
    return *result;
  }

  /// The rendered diagnostics of a load that must fail, with the lab directory written $DIR.
  std::string errors(const std::string &yaml) const {
    auto result = load_text(yaml, "lab.yaml", m_path.string());
    REQUIRE_MESSAGE(!result.has_value(), "the load was expected to fail");
    std::string text = render(result.error(), false);
    const std::string dir = m_path.string();
    for (std::size_t pos = text.find(dir); pos != std::string::npos;
         pos = text.find(dir, pos + 4)) {
      text.replace(pos, dir.size(), "$DIR");
    }
    return text;
  }

private:
  fs::path m_path;
  std::optional<std::string> m_old_images;
};

const Node &node(const Topology &t, const std::string &name) {
  const Node *n = t.find_node(name);
  REQUIRE_MESSAGE(n != nullptr, "no node " << name);
  return *n;
}

} // namespace

// --- successful loads ---------------------------------------------------------------------------

TEST_CASE("topology vm: the default image ltb-vm gives a disk, a kernel, an initrd, a cmdline") {
  VmLab lab;
  lab.standard_image();
  const auto t = lab.load_ok("name: v\n"
                             "topology:\n"
                             "  nodes:\n"
                             "    vm1: {kind: vm}\n");
  const Node &vm1 = node(t, "vm1");
  CHECK(vm1.kind == "vm");
  CHECK(vm1.runtime == Runtime::vm);
  CHECK(vm1.image == lab.at("images/ltb-vm/disk.qcow2"));
  CHECK(vm1.kernel == lab.at("images/ltb-vm/boot/vmlinuz"));
  CHECK(vm1.initrd == lab.at("images/ltb-vm/boot/initrd.img"));
  CHECK(vm1.cmdline == "console=ttyS0");
  CHECK(vm1.cpus == doctest::Approx(1));
  CHECK(vm1.memory_bytes == 256LL << 20);
  CHECK(vm1.disk_size_bytes == 0);
  CHECK(vm1.nic_model == "virtio");
  CHECK(vm1.accel == Accel::automatic);
  CHECK(vm1.startup_config_path.empty());
  CHECK_FALSE(vm1.mgmt_ipv4.has_value());
}

TEST_CASE("topology vm: an image value with '/' or a disk extension is a path to a base disk") {
  VmLab lab;
  lab.file("disks/base.qcow2");
  lab.file("base.img");
  lab.file("abs/disk.raw");
  lab.file("plain-disk");
  const auto t = lab.load_ok("name: v\n"
                             "topology:\n"
                             "  defaults: {kind: vm}\n"
                             "  nodes:\n"
                             "    a: {image: disks/base.qcow2}\n"
                             "    b: {image: base.img}\n"
                             "    c: {image: " +
                             lab.at("abs/disk.raw") +
                             "}\n"
                             "    d: {image: ./x/../plain-disk}\n");
  CHECK(node(t, "a").image == lab.at("disks/base.qcow2"));
  CHECK(node(t, "b").image == lab.at("base.img"));
  CHECK(node(t, "c").image == lab.at("abs/disk.raw"));
  CHECK(node(t, "d").image == lab.at("plain-disk"));
  for (const auto &n : t.nodes) {
    CAPTURE(n.name);
    // No ltb VM image is involved: nothing to boot but the disk.
    CHECK(n.kernel.empty());
    CHECK(n.initrd.empty());
    CHECK(n.cmdline.empty());
  }
}

TEST_CASE("topology vm: a disk path may come with the node's own kernel, initrd and cmdline") {
  VmLab lab;
  lab.file("base.qcow2");
  lab.file("boot/vmlinuz");
  lab.file("boot/initrd");
  const auto t = lab.load_ok("name: v\n"
                             "topology:\n"
                             "  nodes:\n"
                             "    vm1:\n"
                             "      kind: vm\n"
                             "      image: base.qcow2\n"
                             "      kernel: boot/vmlinuz\n"
                             "      initrd: boot/initrd\n"
                             "      cmdline: root=/dev/vda rw\n");
  const Node &vm1 = node(t, "vm1");
  CHECK(vm1.image == lab.at("base.qcow2"));
  CHECK(vm1.kernel == lab.at("boot/vmlinuz"));
  CHECK(vm1.initrd == lab.at("boot/initrd"));
  CHECK(vm1.cmdline == "root=/dev/vda rw");
}

TEST_CASE("topology vm: the node's kernel and initrd replace the image's; its cmdline adds to it") {
  VmLab lab;
  lab.standard_image();
  lab.file("k/vmlinuz-custom");
  lab.file("k/initrd-custom");
  const auto t = lab.load_ok("name: v\n"
                             "topology:\n"
                             "  kinds:\n"
                             "    vm: {cmdline: from-kind}\n"
                             "  nodes:\n"
                             "    own-kernel: {kind: vm, kernel: k/vmlinuz-custom}\n"
                             "    all-own:\n"
                             "      kind: vm\n"
                             "      kernel: k/vmlinuz-custom\n"
                             "      initrd: k/initrd-custom\n"
                             "      cmdline: \"\"\n"
                             "    plain: {kind: vm}\n");
  const Node &own_kernel = node(t, "own-kernel");
  CHECK(own_kernel.kernel == lab.at("k/vmlinuz-custom"));
  CHECK(own_kernel.initrd == lab.at("images/ltb-vm/boot/initrd.img"));
  CHECK(own_kernel.cmdline == "from-kind");
  CHECK(own_kernel.image == lab.at("images/ltb-vm/disk.qcow2"));
  const Node &all_own = node(t, "all-own");
  CHECK(all_own.kernel == lab.at("k/vmlinuz-custom"));
  CHECK(all_own.initrd == lab.at("k/initrd-custom"));
  CHECK(all_own.cmdline.empty());
  const Node &plain = node(t, "plain");
  CHECK(plain.kernel == lab.at("images/ltb-vm/boot/vmlinuz"));
  // The image's kernel boots, so its command line stays in front of the node's.
  CHECK(plain.cmdline == "console=ttyS0 from-kind");
}

TEST_CASE("topology vm: an image with a kernel and no disk boots the kernel only") {
  VmLab lab;
  lab.image("netboot", R"({"kernel": "vmlinuz", "initrd": "initrd.img"})",
            {"vmlinuz", "initrd.img"});
  const auto t = lab.load_ok("name: v\n"
                             "topology:\n"
                             "  nodes:\n"
                             "    vm1: {kind: vm, image: netboot}\n");
  const Node &vm1 = node(t, "vm1");
  CHECK(vm1.image.empty());
  CHECK(vm1.kernel == lab.at("images/netboot/vmlinuz"));
  CHECK(vm1.initrd == lab.at("images/netboot/initrd.img"));
  CHECK(vm1.cmdline.empty());
}

TEST_CASE("topology vm: a disk-only image boots its disk; its cmdline is then unused") {
  VmLab lab;
  lab.image("debian", R"({"disk": "/dev/null", "cmdline": "unused without a kernel"})");
  const auto t = lab.load_ok("name: v\n"
                             "topology:\n"
                             "  nodes:\n"
                             "    vm1: {kind: vm, image: debian}\n");
  const Node &vm1 = node(t, "vm1");
  // An absolute path in image.json stays as it is (a device is fine as a base disk).
  CHECK(vm1.image == "/dev/null");
  CHECK(vm1.kernel.empty());
  // The image's command line has no kernel to go with, so it is not used.
  CHECK(vm1.cmdline.empty());
}

TEST_CASE("topology vm: fields are inherited; container and vm fields from defaults and groups "
          "are left unused") {
  VmLab lab;
  lab.image("ltb-vm", R"({"disk": "disk.qcow2"})", {"disk.qcow2"});
  lab.file("k/vmlinuz");
  const auto t = lab.load_ok(R"(name: v
topology:
  defaults:
    memory: 64m
    env: {A: b}
    exec: [echo hi]
    kernel: k/vmlinuz
  kinds:
    vm: {cpus: 2, nic-model: e1000, accel: qemu, disk-size: 4GiB, labels: {os: linux}}
    linux: {image: alpine}
  groups:
    fast: {kind: vm, accel: kvm, nic-model: vmxnet3, binds: ["/a:/a"], cmd: x}
  nodes:
    v1: {kind: vm}
    v2: {group: fast, memory: 1GiB, disk-size: 10737418240, cpus: 0}
    h1: {kind: linux}
    g1: {kind: linux, group: fast}
)");
  const Node &v1 = node(t, "v1");
  CHECK(v1.cpus == doctest::Approx(2));
  CHECK(v1.memory_bytes == 64LL << 20);
  CHECK(v1.nic_model == "e1000");
  CHECK(v1.accel == Accel::qemu);
  CHECK(v1.disk_size_bytes == 4LL << 30);
  CHECK(v1.kernel == lab.at("k/vmlinuz"));
  CHECK(v1.image == lab.at("images/ltb-vm/disk.qcow2"));
  CHECK(v1.labels == std::map<std::string, std::string>{{"os", "linux"}});
  CHECK(v1.env.empty());
  CHECK(v1.exec.empty());
  const Node &v2 = node(t, "v2");
  CHECK(v2.kind == "vm");
  CHECK(v2.cpus == doctest::Approx(1)); // 0 means the default for a VM
  CHECK(v2.memory_bytes == 1LL << 30);
  CHECK(v2.disk_size_bytes == 10LL << 30);
  CHECK(v2.accel == Accel::kvm);
  CHECK(v2.nic_model == "vmxnet3");
  CHECK(v2.binds.empty());
  CHECK(v2.cmd.empty());
  const Node &h1 = node(t, "h1");
  CHECK(h1.runtime == Runtime::container);
  CHECK(h1.env.at("A") == "b");
  CHECK(h1.exec == std::vector<std::string>{"echo hi"});
  CHECK(h1.kernel.empty());
  CHECK(h1.memory_bytes == 64LL << 20);
  CHECK(h1.cpus == doctest::Approx(0));
  const Node &g1 = node(t, "g1");
  CHECK(g1.runtime == Runtime::container);
  CHECK(g1.cmd == "x");
  CHECK(g1.binds == std::vector<std::string>{"/a:/a"});
  CHECK(g1.nic_model == "virtio");
  CHECK(g1.accel == Accel::automatic);
}

TEST_CASE("topology vm: every nic-model and accel value") {
  VmLab lab;
  lab.standard_image();
  const std::pair<const char *, Accel> accels[] = {
      {"auto", Accel::automatic}, {"kvm", Accel::kvm}, {"qemu", Accel::qemu}};
  for (const auto &[written, accel] : accels) {
    const std::string shown = written; // doctest's macros cannot capture a structured binding
    CAPTURE(shown);
    const auto t = lab.load_ok(std::string("name: v\ntopology:\n  nodes:\n    vm1: {kind: vm, "
                                           "accel: ") +
                               written + "}\n");
    CHECK(node(t, "vm1").accel == accel);
  }
  for (const char *model : {"virtio", "e1000", "e1000e", "rtl8139", "vmxnet3"}) {
    CAPTURE(model);
    const auto t = lab.load_ok(std::string("name: v\ntopology:\n  nodes:\n    vm1: {kind: vm, "
                                           "nic-model: ") +
                               model + "}\n");
    CHECK(node(t, "vm1").nic_model == model);
  }
}

TEST_CASE("topology vm: VMs share links and OVS segments with containers") {
  VmLab lab;
  lab.standard_image();
  const auto t = lab.load_ok(R"(name: v
mgmt: {ipv4-subnet: 10.1.2.0/24}
topology:
  nodes:
    vm1: {kind: vm, mgmt-ipv4: 10.1.2.10}
    r1: {kind: frr}
    sw: {kind: ovs-bridge}
  links:
    - endpoints: ["vm1:eth1", "r1:eth1"]
    - endpoints: [{node: vm1, interface: eth2}, "sw:p1"]
)");
  CHECK(node(t, "vm1").mgmt_ipv4 == "10.1.2.10");
  REQUIRE(t.links.size() == 2);
  CHECK(t.links[0].name == "vm1-r1");
  CHECK(link_key(t.links[0]) == "r1:eth1|vm1:eth1");
  CHECK(t.links[1].name == "vm1-sw");
  CHECK(t.links[1].a.iface == "eth2");
}

TEST_CASE("topology vm: the VM example in ltb-topology(5) loads as the page says") {
  const auto example = ltb::test::man_example("## Example with a VM");
  REQUIRE_FALSE(example.empty());
  VmLab lab;
  lab.standard_image();
  const auto t = lab.load_ok(example);
  CHECK(t.name == "vm-lab");
  const Node &vm1 = node(t, "vm1");
  CHECK(vm1.runtime == Runtime::vm);
  CHECK(vm1.kernel == lab.at("images/ltb-vm/boot/vmlinuz"));
  CHECK(vm1.initrd == lab.at("images/ltb-vm/boot/initrd.img"));
  CHECK(vm1.cmdline == "console=ttyS0 ltb.forward=1");
  CHECK(vm1.accel == Accel::qemu);
  CHECK(vm1.cpus == doctest::Approx(2));
  CHECK(vm1.memory_bytes == 512LL << 20);
  CHECK(node(t, "r1").runtime == Runtime::container);
  CHECK(node(t, "h1").image == "alpine:3.18");
  REQUIRE(t.links.size() == 3);
  CHECK(t.links[0].name == "vm1-r1");
  CHECK(t.links[1].name == "vm1-sw1");
  CHECK(t.links[2].name == "h1-sw1");
}

// --- diagnostics --------------------------------------------------------------------------------

TEST_CASE("topology vm: a base disk that does not exist or is a directory") {
  VmLab lab;
  fs::create_directories(lab.path() / "disks/dir.qcow2");
  CHECK(lab.errors("name: v\n"
                   "topology:\n"
                   "  nodes:\n"
                   "    vm1: {kind: vm, image: disks/nope.qcow2}\n"
                   "    vm2: {kind: vm, image: disks/dir.qcow2}\n") ==
        R"(lab.yaml:4:28: error: base disk '$DIR/disks/nope.qcow2' of node 'vm1' does not exist
   4 |     vm1: {kind: vm, image: disks/nope.qcow2}
     |                            ^
help: a relative path is relative to the topology file's directory; a value without '/' that does not end in .qcow2, .img or .raw names an ltb VM image
lab.yaml:5:28: error: base disk '$DIR/disks/dir.qcow2' of node 'vm2' is a directory
   5 |     vm2: {kind: vm, image: disks/dir.qcow2}
     |                            ^
help: a relative path is relative to the topology file's directory; a value without '/' that does not end in .qcow2, .img or .raw names an ltb VM image
)");
}

TEST_CASE("topology vm: a value inherited by several VMs is reported once") {
  VmLab lab;
  auto result = load_text("name: v\n"
                          "topology:\n"
                          "  defaults: {kind: vm, image: gone.qcow2}\n"
                          "  nodes: {a: {}, b: {}, c: {}}\n",
                          "lab.yaml", lab.path().string());
  REQUIRE_FALSE(result.has_value());
  REQUIRE(result.error().items.size() == 1);
  CHECK(result.error().items[0].message ==
        "base disk '" + lab.at("gone.qcow2") + "' of node 'a' does not exist");
  CHECK(result.error().items[0].loc.line == 3);
  CHECK(result.error().items[0].loc.column == 31);
}

TEST_CASE("topology vm: an unknown image name, with the images that exist") {
  VmLab lab;
  lab.standard_image("ltb-vm");
  lab.standard_image("debian-12");
  CHECK(lab.errors("name: v\n"
                   "topology:\n"
                   "  nodes:\n"
                   "    vm1: {kind: vm, image: ltb-mv}\n"
                   "    vm2: {kind: vm, image: openbsd}\n") ==
        R"(lab.yaml:4:28: error: VM image 'ltb-mv' not found in $DIR/images
   4 |     vm1: {kind: vm, image: ltb-mv}
     |                            ^
help: did you mean 'ltb-vm'? If not, build it with `make images`, or give a disk path
lab.yaml:5:28: error: VM image 'openbsd' not found in $DIR/images
   5 |     vm2: {kind: vm, image: openbsd}
     |                            ^
help: build it with `make images`, or give a disk path; the images there are: debian-12, ltb-vm
)");
}

TEST_CASE("topology vm: a container image from topology.defaults is not a VM image") {
  VmLab lab;
  lab.standard_image();
  CHECK(lab.errors("name: v\n"
                   "topology:\n"
                   "  defaults: {image: alpine}\n"
                   "  nodes:\n"
                   "    h1: {kind: linux}\n"
                   "    vm1: {kind: vm}\n") ==
        R"(lab.yaml:3:21: error: VM image 'alpine' not found in $DIR/images
   3 |   defaults: {image: alpine}
     |                     ^
help: node 'vm1' of kind vm takes this image from topology.defaults: set 'image' under topology.kinds.vm, build the image with `make images`, or give a disk path; the images there are: ltb-vm
)");
  // The kind is more specific than the defaults.
  const auto t = lab.load_ok("name: v\n"
                             "topology:\n"
                             "  defaults: {image: alpine}\n"
                             "  kinds: {vm: {image: ltb-vm}}\n"
                             "  nodes:\n"
                             "    h1: {kind: linux}\n"
                             "    vm1: {kind: vm}\n");
  CHECK(node(t, "h1").image == "alpine");
  CHECK(node(t, "vm1").image == lab.at("images/ltb-vm/disk.qcow2"));
}

TEST_CASE("topology vm: the default image is missing, or there is no images directory") {
  VmLab lab;
  CHECK(lab.errors("name: v\n"
                   "topology:\n"
                   "  nodes:\n"
                   "    vm1: {kind: vm}\n") ==
        R"(lab.yaml:4:5: error: VM image 'ltb-vm' not found in $DIR/images
   4 |     vm1: {kind: vm}
     |     ^
help: node 'vm1' uses the default image of kind vm: build it with `make images`, or set 'image' to a disk path
)");
  fs::remove_all(lab.images());
  CHECK(lab.errors("name: v\n"
                   "topology:\n"
                   "  nodes:\n"
                   "    vm1: {kind: vm, image: tiny}\n") ==
        R"(lab.yaml:4:28: error: VM image 'tiny' not found in $DIR/images
   4 |     vm1: {kind: vm, image: tiny}
     |                            ^
help: build it with `make images`, or give a disk path
)");
}

TEST_CASE("topology vm: an image without image.json, or with a broken one") {
  VmLab lab;
  fs::create_directories(lab.images() / "empty");
  lab.image("syntax", "{\"disk\": \"d.qcow2\",}");
  lab.image("list", "[]");
  lab.image("typed", R"({"kernel": 7})");
  CHECK(
      lab.errors("name: v\n"
                 "topology:\n"
                 "  defaults: {kind: vm}\n"
                 "  nodes:\n"
                 "    a: {image: empty}\n"
                 "    b: {image: syntax}\n"
                 "    c: {image: list}\n"
                 "    d: {image: typed}\n") ==
      R"(lab.yaml:5:16: error: cannot read image.json of VM image 'empty': No such file or directory
   5 |     a: {image: empty}
     |                ^
help: $DIR/images/empty/image.json describes the image (disk, kernel, initrd, cmdline): rebuild it with `make images`, or give a disk path
lab.yaml:6:16: error: invalid image.json of VM image 'syntax': parse error at line 1, column 20: syntax error while parsing object key - unexpected '}'; expected string literal
   6 |     b: {image: syntax}
     |                ^
help: $DIR/images/syntax/image.json must be a JSON object with optional text keys disk, kernel, initrd and cmdline (paths relative to $DIR/images/syntax)
lab.yaml:7:16: error: invalid image.json of VM image 'list': it is not a JSON object
   7 |     c: {image: list}
     |                ^
help: $DIR/images/list/image.json must be a JSON object with optional text keys disk, kernel, initrd and cmdline (paths relative to $DIR/images/list)
lab.yaml:8:16: error: invalid image.json of VM image 'typed': 'kernel' must be a string
   8 |     d: {image: typed}
     |                ^
help: $DIR/images/typed/image.json must be a JSON object with optional text keys disk, kernel, initrd and cmdline (paths relative to $DIR/images/typed)
)");
}

TEST_CASE("topology vm: an image with neither a disk nor a kernel") {
  VmLab lab;
  lab.image("hollow", R"({"cmdline": "quiet"})");
  lab.file("vmlinuz");
  CHECK(lab.errors("name: v\n"
                   "topology:\n"
                   "  nodes:\n"
                   "    vm1: {kind: vm, image: hollow}\n") ==
        R"(lab.yaml:4:28: error: VM image 'hollow' has neither a disk nor a kernel
   4 |     vm1: {kind: vm, image: hollow}
     |                            ^
help: $DIR/images/hollow/image.json must name a disk or a kernel; or set 'kernel' on node 'vm1'
)");
  // The node's own kernel is enough, and then the image's command line applies.
  const auto t = lab.load_ok("name: v\n"
                             "topology:\n"
                             "  nodes:\n"
                             "    vm1: {kind: vm, image: hollow, kernel: vmlinuz}\n");
  CHECK(node(t, "vm1").image.empty());
  CHECK(node(t, "vm1").kernel == lab.at("vmlinuz"));
  CHECK(node(t, "vm1").cmdline == "quiet");
}

TEST_CASE("topology vm: image files that do not exist") {
  VmLab lab;
  lab.image("no-disk", R"({"disk": "disk.qcow2"})");
  lab.image("no-initrd", R"({"kernel": "vmlinuz", "initrd": "initrd.img"})", {"vmlinuz"});
  CHECK(
      lab.errors("name: v\n"
                 "topology:\n"
                 "  defaults: {kind: vm}\n"
                 "  nodes:\n"
                 "    a: {image: no-disk}\n"
                 "    b: {image: no-initrd}\n") ==
      R"(lab.yaml:5:16: error: base disk '$DIR/images/no-disk/disk.qcow2' of node 'a' does not exist
   5 |     a: {image: no-disk}
     |                ^
help: VM image 'no-disk' names it in $DIR/images/no-disk/image.json: rebuild the image with `make images`
lab.yaml:6:16: error: initrd '$DIR/images/no-initrd/initrd.img' of node 'b' does not exist
   6 |     b: {image: no-initrd}
     |                ^
help: VM image 'no-initrd' names it in $DIR/images/no-initrd/image.json: rebuild the image with `make images`
)");
}

TEST_CASE("topology vm: the node's kernel and initrd must exist") {
  VmLab lab;
  lab.standard_image();
  fs::create_directories(lab.path() / "boot");
  CHECK(lab.errors("name: v\n"
                   "topology:\n"
                   "  nodes:\n"
                   "    vm1:\n"
                   "      kind: vm\n"
                   "      kernel: boot/vmlinuz\n"
                   "      initrd: boot\n") ==
        R"(lab.yaml:6:15: error: kernel '$DIR/boot/vmlinuz' of node 'vm1' does not exist
   6 |       kernel: boot/vmlinuz
     |               ^
help: a relative path is relative to the topology file's directory
lab.yaml:7:15: error: initrd '$DIR/boot' of node 'vm1' is a directory
   7 |       initrd: boot
     |               ^
help: a relative path is relative to the topology file's directory
)");
}

TEST_CASE("topology vm: an initrd or a cmdline without a kernel") {
  VmLab lab;
  lab.file("base.qcow2");
  lab.file("initrd.img");
  CHECK(lab.errors("name: v\n"
                   "topology:\n"
                   "  nodes:\n"
                   "    vm1:\n"
                   "      kind: vm\n"
                   "      image: base.qcow2\n"
                   "      initrd: initrd.img\n"
                   "      cmdline: console=ttyS0\n") ==
        R"(lab.yaml:7:15: error: vm node 'vm1' has an initrd but no kernel to boot
   7 |       initrd: initrd.img
     |               ^
help: QEMU uses it only with a kernel it boots directly: set 'kernel', or remove 'initrd'
lab.yaml:8:16: error: vm node 'vm1' has a kernel command line but no kernel to boot
   8 |       cmdline: console=ttyS0
     |                ^
help: QEMU uses it only with a kernel it boots directly: set 'kernel', or remove 'cmdline'
)");
}

TEST_CASE("topology vm: vm fields on container nodes and container kinds") {
  VmLab lab;
  CHECK(lab.errors(R"(name: v
topology:
  kinds:
    frr: {accel: kvm}
  nodes:
    r1:
      kind: linux
      image: alpine
      kernel: vmlinuz
      initrd: initrd.img
      cmdline: quiet
      disk-size: 1g
      nic-model: e1000
      accel: qemu
    br: {kind: ovs-bridge, kernel: vmlinuz}
)") == R"(lab.yaml:4:11: error: 'accel' applies to vm nodes only
   4 |     frr: {accel: kvm}
     |           ^
help: set it under topology.kinds.vm instead
lab.yaml:9:7: error: 'kernel' applies to vm nodes only
   9 |       kernel: vmlinuz
     |       ^
help: remove it, or set kind: vm to make 'r1' a virtual machine
lab.yaml:10:7: error: 'initrd' applies to vm nodes only
   10 |       initrd: initrd.img
      |       ^
help: remove it, or set kind: vm to make 'r1' a virtual machine
lab.yaml:11:7: error: 'cmdline' applies to vm nodes only
   11 |       cmdline: quiet
      |       ^
help: remove it, or set kind: vm to make 'r1' a virtual machine
lab.yaml:12:7: error: 'disk-size' applies to vm nodes only
   12 |       disk-size: 1g
      |       ^
help: remove it, or set kind: vm to make 'r1' a virtual machine
lab.yaml:13:7: error: 'nic-model' applies to vm nodes only
   13 |       nic-model: e1000
      |       ^
help: remove it, or set kind: vm to make 'r1' a virtual machine
lab.yaml:14:7: error: 'accel' applies to vm nodes only
   14 |       accel: qemu
      |       ^
help: remove it, or set kind: vm to make 'r1' a virtual machine
lab.yaml:15:28: error: 'kernel' does not apply to ovs-bridge node 'br'
   15 |     br: {kind: ovs-bridge, kernel: vmlinuz}
      |                            ^
help: an ovs-bridge node takes only kind, group, labels and impairments: ltb creates the bridge itself, with no image or management address
)");
}

TEST_CASE("topology vm: container fields on vm nodes and topology.kinds.vm") {
  VmLab lab;
  lab.standard_image();
  CHECK(lab.errors(R"(name: v
topology:
  kinds:
    vm: {env: {A: b}}
  nodes:
    vm1:
      kind: vm
      exec: [ip link]
      startup-config: r1.conf
      binds: ["/a:/a"]
      entrypoint: /init
      cmd: sh
)") == R"(lab.yaml:4:10: error: 'env' is not supported on vm nodes
   4 |     vm: {env: {A: b}}
     |          ^
help: a VM runs its own operating system: configure it in its image, or pass settings on the kernel command line (cmdline)
lab.yaml:8:7: error: 'exec' is not supported on vm nodes
   8 |       exec: [ip link]
     |       ^
help: a VM runs its own operating system: configure it in its image, or pass settings on the kernel command line (cmdline)
lab.yaml:9:7: error: 'startup-config' is not supported on vm nodes
   9 |       startup-config: r1.conf
     |       ^
help: a VM runs its own operating system: configure it in its image, or pass settings on the kernel command line (cmdline)
lab.yaml:10:7: error: 'binds' is not supported on vm nodes
   10 |       binds: ["/a:/a"]
      |       ^
help: a VM runs its own operating system: configure it in its image, or pass settings on the kernel command line (cmdline)
lab.yaml:11:7: error: 'entrypoint' is not supported on vm nodes
   11 |       entrypoint: /init
      |       ^
help: a VM runs its own operating system: configure it in its image, or pass settings on the kernel command line (cmdline)
lab.yaml:12:7: error: 'cmd' is not supported on vm nodes
   12 |       cmd: sh
      |       ^
help: a VM runs its own operating system: configure it in its image, or pass settings on the kernel command line (cmdline)
)");
}

TEST_CASE("topology vm: eth0 of a VM is its management interface; names follow Linux's rules") {
  VmLab lab;
  lab.standard_image();
  CHECK(lab.errors("name: v\n"
                   "topology:\n"
                   "  nodes: {vm1: {kind: vm}, vm2: {kind: vm}}\n"
                   "  links:\n"
                   "    - endpoints: [\"vm1:eth0\", \"vm2:eth1\"]\n"
                   "    - endpoints: [\"vm1:eth2\", \"vm2:ethernet-1-1-long\"]\n") ==
        R"(lab.yaml:5:24: error: interface 'eth0' of node 'vm1' is its management interface
   5 |     - endpoints: ["vm1:eth0", "vm2:eth1"]
     |                        ^
help: use eth1, eth2, ... for links: ltb connects eth0 to the management network
lab.yaml:6:36: error: interface name 'ethernet-1-1-long' is 17 bytes long; Linux allows at most 15
   6 |     - endpoints: ["vm1:eth2", "vm2:ethernet-1-1-long"]
     |                                    ^
help: an interface name is 1 to 15 bytes without '/', ':' or whitespace, for example eth1
)");
}

TEST_CASE("topology vm: a VM has a whole number of CPUs") {
  VmLab lab;
  lab.standard_image();
  CHECK(lab.errors("name: v\n"
                   "topology:\n"
                   "  defaults: {cpus: 1.5}\n"
                   "  nodes:\n"
                   "    h1: {kind: linux, image: alpine}\n"
                   "    vm1: {kind: vm}\n"
                   "    vm2: {kind: vm}\n"
                   "    vm3: {kind: vm, cpu: 2.5}\n") ==
        R"(lab.yaml:3:20: error: a VM has a whole number of CPUs, not 1.5
   3 |   defaults: {cpus: 1.5}
     |                    ^
help: set cpus on the vm node or under topology.kinds.vm, for example cpus: 2
lab.yaml:8:26: error: a VM has a whole number of CPUs, not 2.5
   8 |     vm3: {kind: vm, cpu: 2.5}
     |                          ^
help: set cpus on the vm node or under topology.kinds.vm, for example cpus: 2
)");
}

TEST_CASE("topology vm: values the schema refuses") {
  VmLab lab;
  lab.standard_image();
  CHECK(lab.errors("name: v\n"
                   "topology:\n"
                   "  nodes:\n"
                   "    vm1: {kind: vm, nic-model: virtio-net, accel: tcg, disk-size: big}\n"
                   "    vm2: {kind: vm, kernel: \"\", initrd: 3}\n") ==
        R"(lab.yaml:4:32: error: unknown NIC model 'virtio-net'
   4 |     vm1: {kind: vm, nic-model: virtio-net, accel: tcg, disk-size: big}
     |                                ^
help: 'nic-model' must be one of: virtio, e1000, e1000e, rtl8139, vmxnet3
lab.yaml:4:51: error: unknown accelerator 'tcg'
   4 |     vm1: {kind: vm, nic-model: virtio-net, accel: tcg, disk-size: big}
     |                                                   ^
help: 'accel' must be one of: auto, kvm, qemu
lab.yaml:4:67: error: malformed disk size 'big'
   4 |     vm1: {kind: vm, nic-model: virtio-net, accel: tcg, disk-size: big}
     |                                                                   ^
help: vm nodes only: the virtual size of the VM's copy-on-write disk, in the units of memory (for example 2GiB); not smaller than the base disk. Absent: the base disk's size.
lab.yaml:5:29: error: 'kernel' must not be empty
   5 |     vm2: {kind: vm, kernel: "", initrd: 3}
     |                             ^
help: vm nodes only: a Linux kernel that QEMU boots directly (a path relative to the topology file's directory). Absent: the VM image's kernel, if it has one, else the VM boots from its disk.
lab.yaml:5:41: error: 'initrd' must be a string
   5 |     vm2: {kind: vm, kernel: "", initrd: 3}
     |                                         ^
help: put it in quotes to make it a string: "3"
)");
}

TEST_CASE("topology vm: 'vm' is a known kind") {
  VmLab lab;
  CHECK(lab.errors("name: v\n"
                   "topology:\n"
                   "  nodes:\n"
                   "    vm1: {kind: vn}\n") ==
        R"(lab.yaml:4:17: error: unknown kind 'vn'
   4 |     vm1: {kind: vn}
     |                 ^
help: did you mean 'vm'?
)");
}
