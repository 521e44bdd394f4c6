#pragma once
// The frames an upgraded `POST /v1/commands` connection carries both ways, as Docker's attach
// does: an 8-byte header (1 byte stream, 3 zero bytes, 4 bytes big-endian payload length), then
// the payload. Pure: encoding and an incremental decoder, shared by the daemon and the client.

#include "util/error.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ltb::server {

enum class Stream : std::uint8_t {
  stdin_data = 0,
  stdout_data = 1,
  stderr_data = 2,
  exit = 3,   // payload {"code": N}
  resize = 4, // payload {"rows": R, "cols": C}
  stdin_eof = 5,
  file_out = 6, // payload: a JSON line {"file": K, "path": "rel"} then bytes to append
};

struct Frame {
  Stream stream = Stream::stdout_data;
  std::string payload;
};

inline constexpr std::size_t k_frame_header = 8;
/// The largest payload either side accepts (a frame is a chunk of a stream, not a whole file).
inline constexpr std::uint32_t k_max_frame_payload = 1U << 20;

/// The header and payload of one frame.
std::string encode(Stream stream, std::string_view payload);

/// Frames out of a byte stream that arrives in pieces.
class Decoder {
public:
  void feed(std::string_view bytes) { m_buffer.append(bytes); }
  /// The next whole frame, nullopt while one is incomplete; an error for a bad header (unknown
  /// stream, non-zero padding, a payload over the limit): the connection is then unusable.
  Result<std::optional<Frame>> next();
  std::size_t buffered() const { return m_buffer.size() - m_offset; }

private:
  std::string m_buffer;
  std::size_t m_offset = 0;
};

/// The payload of a file-out frame: which output (the file's index in the request), the path
/// relative to it ("" = the file itself), then the bytes.
std::string file_out_payload(int file, const std::string &path, std::string_view bytes);
struct FileChunk {
  int file = 0;
  std::string path;
  std::string bytes;
};
Result<FileChunk> parse_file_out(const std::string &payload);

/// The most rows or columns a terminal may have (as a command request's `tty`).
inline constexpr unsigned short k_max_terminal_size = 10000;

struct WindowSize {
  unsigned short rows = 24;
  unsigned short cols = 80;
};
/// A resize frame's payload, a JSON object with "rows" and "cols", each a whole number in
/// 1..MAX; nullopt for anything else (a string, a float, 0, too large: any client may send it).
std::optional<WindowSize> parse_resize(std::string_view payload,
                                       unsigned short max = k_max_terminal_size);

} // namespace ltb::server
