#include "server/frame.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace ltb::server {

std::string encode(Stream stream, std::string_view payload) {
  std::string out(k_frame_header, '\0');
  out[0] = static_cast<char>(stream);
  const auto size = static_cast<std::uint32_t>(payload.size());
  out[4] = static_cast<char>((size >> 24) & 0xff);
  out[5] = static_cast<char>((size >> 16) & 0xff);
  out[6] = static_cast<char>((size >> 8) & 0xff);
  out[7] = static_cast<char>(size & 0xff);
  out.append(payload);
  return out;
}

Result<std::optional<Frame>> Decoder::next() {
  if (buffered() < k_frame_header) {
    return std::nullopt;
  }
  const auto *h = reinterpret_cast<const unsigned char *>(m_buffer.data() + m_offset);
  if (h[0] > static_cast<unsigned char>(Stream::file_out) || h[1] != 0 || h[2] != 0 || h[3] != 0) {
    return fail(
        fmt::format("bad frame header (stream byte {}, padding {} {} {})", h[0], h[1], h[2], h[3]),
        "the peer does not speak ltb-stream/1");
  }
  const std::uint32_t size = (std::uint32_t{h[4]} << 24) | (std::uint32_t{h[5]} << 16) |
                             (std::uint32_t{h[6]} << 8) | std::uint32_t{h[7]};
  if (size > k_max_frame_payload) {
    return fail(fmt::format("frame of {} bytes is over the limit of {}", size, k_max_frame_payload),
                "send large data in several frames");
  }
  if (buffered() < k_frame_header + size) {
    return std::nullopt;
  }
  Frame frame;
  frame.stream = static_cast<Stream>(h[0]);
  frame.payload.assign(m_buffer, m_offset + k_frame_header, size);
  m_offset += k_frame_header + size;
  if (m_offset > 65536 && m_offset * 2 > m_buffer.size()) {
    m_buffer.erase(0, m_offset);
    m_offset = 0;
  }
  return frame;
}

std::string file_out_payload(int file, const std::string &path, std::string_view bytes) {
  std::string out = nlohmann::json{{"file", file}, {"path", path}}.dump();
  out += '\n';
  out.append(bytes);
  return out;
}

Result<FileChunk> parse_file_out(const std::string &payload) {
  const auto newline = payload.find('\n');
  if (newline == std::string::npos) {
    return fail("file-out frame without its header line", "the peer does not speak ltb-stream/1");
  }
  auto header = nlohmann::json::parse(payload.substr(0, newline), nullptr, false);
  if (!header.is_object() || !header.contains("file") || !header["file"].is_number_integer() ||
      !header.contains("path") || !header["path"].is_string()) {
    return fail("file-out frame with a bad header line", "the peer does not speak ltb-stream/1");
  }
  FileChunk chunk;
  chunk.file = header["file"].get<int>();
  chunk.path = header["path"].get<std::string>();
  chunk.bytes = payload.substr(newline + 1);
  return chunk;
}

namespace {

std::optional<unsigned short> terminal_dimension(const nlohmann::json &object, const char *key,
                                                 unsigned short max) {
  // A whole number that JSON wrote as one: not a string, a float (1e300 is no size, and its
  // conversion would be undefined) or a negative number. value() would throw on a string.
  const auto it = object.find(key);
  if (it == object.end() || !it->is_number_unsigned()) {
    return std::nullopt;
  }
  const auto value = it->get<std::uint64_t>();
  if (value == 0 || value > max) {
    return std::nullopt;
  }
  return static_cast<unsigned short>(value);
}

} // namespace

std::optional<WindowSize> parse_resize(std::string_view payload, unsigned short max) {
  const auto size = nlohmann::json::parse(payload, nullptr, false);
  if (!size.is_object()) {
    return std::nullopt;
  }
  const auto rows = terminal_dimension(size, "rows", max);
  const auto cols = terminal_dimension(size, "cols", max);
  if (!rows || !cols) {
    return std::nullopt;
  }
  return WindowSize{*rows, *cols};
}

} // namespace ltb::server
