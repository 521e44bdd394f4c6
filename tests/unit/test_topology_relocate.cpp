// Tests of topology::relocate_text: a lab file's text for another directory (`ltb save`).

#include "testutil.hpp"
#include "topology/loader.hpp"
#include "topology/relocate.hpp"

#include <doctest/doctest.h>

using ltb::test::TempDir;
namespace topology = ltb::topology;

TEST_CASE("relocate: relative paths become absolute, comments and the rest stay as written") {
  TempDir tmp;
  tmp.write("src/configs/r2.conf", "hostname r2\n");
  tmp.write("src/configs/h.conf", "x\n");
  tmp.write("src/keys/id", "key\n");
  const std::string text = R"(# my lab
name: moved   # the name
topology:
  defaults:
    binds: ["data:/data:ro", /abs:/abs]
  groups:
    hosts:
      startup-config: 'configs/h.conf'
  nodes:
    r1:
      kind: frr
      startup-config: configs/r1.conf # old
    r2: {kind: frr, startup-config: "configs/r2.conf", ssh-key: keys/id}
    r3:
      kind: frr
    r4: {kind: frr}
    r5: {}
    h1:
      kind: linux
      group: hosts
      image: ltb/busybox:latest
      startup-config: |
        inline
          text
    h2:
      kind: linux
      startup-config: |
        keep
        this
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
)";
  topology::Relocation relocation;
  relocation.base_dir = tmp.file("src");
  relocation.name = "moved"; // as the file says: unchanged
  relocation.startup_configs = {{"r1", "r1/frr.conf"},
                                {"r3", "r3/frr.conf"},
                                {"r4", "r4/frr.conf"},
                                {"r5", "r5/x"},
                                {"h1", "h1/startup-config"}};
  auto out = topology::relocate_text(text, relocation);
  REQUIRE(out);
  const std::string src = tmp.file("src");
  const std::string expected = "# my lab\n"
                               "name: moved   # the name\n"
                               "topology:\n"
                               "  defaults:\n"
                               "    binds: [\"" +
                               src +
                               "/data:/data:ro\", /abs:/abs]\n"
                               "  groups:\n"
                               "    hosts:\n"
                               "      startup-config: \"" +
                               src +
                               "/configs/h.conf\"\n"
                               "  nodes:\n"
                               "    r1:\n"
                               "      kind: frr\n"
                               "      startup-config: \"r1/frr.conf\" # old\n"
                               "    r2: {kind: frr, startup-config: \"" +
                               src + "/configs/r2.conf\", ssh-key: \"" + src +
                               "/keys/id\"}\n"
                               "    r3:\n"
                               "      startup-config: \"r3/frr.conf\"\n"
                               "      kind: frr\n"
                               "    r4: {startup-config: \"r4/frr.conf\", kind: frr}\n"
                               "    r5: {startup-config: \"r5/x\"}\n"
                               "    h1:\n"
                               "      kind: linux\n"
                               "      group: hosts\n"
                               "      image: ltb/busybox:latest\n"
                               "      startup-config: \"h1/startup-config\"\n"
                               "    h2:\n"
                               "      kind: linux\n"
                               "      startup-config: |\n"
                               "        keep\n"
                               "        this\n"
                               "  links:\n"
                               "    - endpoints: [\"r1:eth1\", \"r2:eth1\"]\n";
  CHECK(*out == expected);
}

TEST_CASE("relocate: the saved text loads from its new directory with the new configs") {
  TempDir tmp;
  tmp.write("lab/r1.conf", "hostname old\n");
  tmp.write("lab/lab.yaml", R"(name: saved
topology:
  nodes:
    r1:
      kind: frr
      startup-config: r1.conf
    r2:
      kind: frr
    r3:
      kind: frr
      startup-config: r1.conf
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
)");
  tmp.write("out/r1/frr.conf", "hostname new\n");
  tmp.write("out/r2/frr.conf", "hostname r2\n");
  std::ifstream in(tmp.file("lab/lab.yaml"));
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  topology::Relocation relocation;
  relocation.base_dir = tmp.file("lab");
  relocation.name = "saved-copy"; // deployed with --lab saved-copy
  relocation.startup_configs = {{"r1", "r1/frr.conf"}, {"r2", "r2/frr.conf"}};
  auto out = topology::relocate_text(text, relocation);
  REQUIRE(out);
  tmp.write("out/topology.yaml", *out);
  auto loaded = topology::load_file(tmp.file("out/topology.yaml"));
  REQUIRE(loaded);
  CHECK(loaded->find_node("r1")->startup_config_text == "hostname new\n");
  CHECK(loaded->find_node("r2")->startup_config_text == "hostname r2\n");
  CHECK(loaded->find_node("r3")->startup_config_text == "hostname old\n"); // not saved: as before
  CHECK(loaded->name == "saved-copy");
}

TEST_CASE("relocate: a node map shared through an alias is refused, not changed for all") {
  const std::string text = R"(name: a
topology:
  nodes:
    r1: &router
      kind: frr
    r2: *router
)";
  topology::Relocation relocation;
  relocation.base_dir = "/x";
  relocation.startup_configs = {{"r1", "r1/frr.conf"}, {"r2", "r2/frr.conf"}};
  auto out = topology::relocate_text(text, relocation);
  REQUIRE_FALSE(out);
  INFO(out.error().message);
  CHECK(out.error().message.find("cannot rewrite") == 0);
  CHECK(out.error().help.find("alias") != std::string::npos);
}
