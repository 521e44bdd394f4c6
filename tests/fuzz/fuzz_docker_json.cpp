// What ltb reads from Docker: every parser of runtime/docker on the same bytes, as a JSON
// document (container inspect and summary, image, network), as lines (events, pull and load
// progress, error bodies), as an HTTP response head, and as the multiplexed exec stream, which
// must come out the same whether it arrives whole or cut in two.

#include "runtime/docker/docker_exec.hpp"
#include "runtime/docker/docker_json.hpp"

#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace {

void check(bool condition) {
  if (!condition) {
    std::abort();
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  using namespace ltb::runtime::docker;
  const std::string_view text(reinterpret_cast<const char *>(data), size);

  const auto document = nlohmann::json::parse(text, nullptr, false);
  if (!document.is_discarded()) {
    (void)parse_container_inspect(document);
    (void)parse_container_summary(document);
    (void)parse_image(document);
    (void)parse_network(document);
  }
  (void)api_error_message(text);
  (void)parse_load_output(text);
  (void)negotiate_api_version(text);
  (void)split_image(text);
  (void)parse_response_head(text);

  LineSplitter lines;
  for (const auto &line : lines.feed(text)) {
    (void)parse_container_event(line);
    (void)parse_pull_line(line);
  }

  // Cut anywhere, the stream gives the same output.
  const std::size_t cut = size == 0 ? 0 : data[0] % size;
  StreamDemux whole;
  whole.feed(text);
  StreamDemux pieces;
  pieces.feed(text.substr(0, cut));
  pieces.feed(text.substr(cut));
  check(whole.out == pieces.out && whole.err == pieces.err &&
        whole.incomplete() == pieces.incomplete());

  std::string out;
  std::string err;
  FrameDemux demux([&](std::string_view piece) { out.append(piece); },
                   [&](std::string_view piece) { err.append(piece); });
  demux.feed(text.substr(0, cut));
  demux.feed(text.substr(cut));
  check(out == whole.out && err == whole.err && demux.incomplete() == whole.incomplete());
  return 0;
}
