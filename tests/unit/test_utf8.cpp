// UTF-8 well-formedness, and the loader's refusal of a file that is not UTF-8 (found by
// fuzz_topology_loader: a Latin-1 byte in an image name loaded, then the access files threw
// nlohmann::json's type_error 316 while `ltb up` wrote them).

#include "topology/loader.hpp"
#include "util/utf8.hpp"

#include <doctest/doctest.h>
#include <string>

using ltb::util::invalid_utf8;

TEST_CASE("utf8: well-formed text passes, the first bad byte is found") {
  CHECK_FALSE(invalid_utf8(""));
  CHECK_FALSE(invalid_utf8("plain ascii\n"));
  CHECK_FALSE(invalid_utf8("Grüße, 日本, 😀"));
  CHECK_FALSE(invalid_utf8("\xf4\x8f\xbf\xbf")); // U+10FFFF
  CHECK(invalid_utf8("ab\xff") == 2);
  CHECK(invalid_utf8("a\xc3") == 1);            // cut short
  CHECK(invalid_utf8("\xc0\xaf") == 0);         // overlong '/'
  CHECK(invalid_utf8("\xe0\x80\xaf") == 0);     // overlong, three bytes
  CHECK(invalid_utf8("x\xed\xa0\x80") == 1);    // a surrogate, U+D800
  CHECK(invalid_utf8("\xf4\x90\x80\x80") == 0); // above U+10FFFF
  CHECK(invalid_utf8("\xe2\x82") == 0);         // cut short
  CHECK(invalid_utf8("\xe2\x28\xa1") == 0);     // bad continuation
  CHECK(invalid_utf8("ok \xf0\x9f\x98") == 3);  // cut short
}

TEST_CASE("utf8: a topology file with a byte that is not UTF-8 is refused where it is") {
  using namespace ltb::topology;
  const std::string yaml = "name: lab\n"
                           "topology:\n"
                           "  nodes:\n"
                           "    n1: {kind: linux, image: \"ltb/busybox\xff:latest\"}\n";
  auto result = load_text(yaml, "lab.yaml", "/tmp");
  REQUIRE_FALSE(result);
  const std::string text = render(result.error(), false);
  CHECK(text.find("lab.yaml:4:42: error: byte 0xff is not UTF-8 text") != std::string::npos);
  CHECK(text.find("help: a topology file is UTF-8") != std::string::npos);

  // The same byte coming from a variable is placed at the variable.
  LoadOptions options;
  options.environment = [](std::string_view) { return std::string("busybox\xe9"); };
  auto from_env =
      load_text("name: lab\ntopology:\n  nodes:\n    n1: {kind: linux, image: ${IMG}}\n",
                "lab.yaml", "/tmp", options);
  REQUIRE_FALSE(from_env);
  CHECK(render(from_env.error(), false).find("lab.yaml:4:") != std::string::npos);

  // UTF-8 itself loads.
  auto fine = load_text("name: lab\ntopology:\n  nodes:\n    n1: {kind: linux, image: alpine, "
                        "labels: {note: \"grüße\"}}\n",
                        "lab.yaml", "/tmp");
  REQUIRE(fine);
  CHECK(fine->nodes.at(0).labels.at("note") == "grüße");
}
