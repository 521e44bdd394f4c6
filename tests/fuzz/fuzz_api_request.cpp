// What a client of `ltb serve` sends, all from the same bytes: the body of POST /v1/commands
// (which must read back the same after the client's to_json), a request target (route and
// query), the headers the daemon reads (Cookie, Authorization), --listen, the frames of an
// upgraded command connection (file-out and resize payloads) and the web terminal's messages.

#include "server/command.hpp"
#include "server/frame.hpp"
#include "server/router.hpp"
#include "server/terminal.hpp"
#include "server/web_auth.hpp"

#include <cstdint>
#include <cstdlib>
#include <string>

namespace {

void check(bool condition) {
  if (!condition) {
    std::abort();
  }
}

bool same(const ltb::server::CommandRequest &a, const ltb::server::CommandRequest &b) {
  if (a.argv != b.argv || a.tty.has_value() != b.tty.has_value() ||
      a.files.size() != b.files.size()) {
    return false;
  }
  if (a.tty && (a.tty->rows != b.tty->rows || a.tty->cols != b.tty->cols)) {
    return false;
  }
  for (std::size_t i = 0; i < a.files.size(); ++i) {
    const auto &x = a.files[i];
    const auto &y = b.files[i];
    if (x.index != y.index || x.output != y.output || x.main != y.main || x.origin != y.origin ||
        x.entries.size() != y.entries.size()) {
      return false;
    }
    for (std::size_t j = 0; j < x.entries.size(); ++j) {
      if (x.entries[j].path != y.entries[j].path || x.entries[j].data != y.entries[j].data ||
          x.entries[j].mode != y.entries[j].mode) {
        return false;
      }
    }
  }
  return true;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  using namespace ltb::server;
  const std::string text(reinterpret_cast<const char *>(data), size);

  if (const auto request = parse_command_request(text)) {
    const auto again = parse_command_request(to_json(*request));
    check(again && same(*again, *request));
    (void)refuse_argv(request->argv);
  }

  for (const char *method : {"GET", "POST", "PUT", "DELETE"}) {
    (void)match_route(method, text);
  }
  (void)query_params(text);
  (void)cookie_value(text, "ltb_session");
  (void)bearer_token(text);
  (void)parse_listen(text);
  (void)parse_terminal_message(text);
  (void)parse_resize(text);

  Decoder decoder;
  decoder.feed(text);
  while (true) {
    auto frame = decoder.next();
    if (!frame || !*frame) {
      break;
    }
    if ((*frame)->stream == Stream::file_out) {
      (void)parse_file_out((*frame)->payload);
    } else if ((*frame)->stream == Stream::resize) {
      (void)parse_resize((*frame)->payload);
    }
  }
  return 0;
}
