// The pure half of the attached Docker exec: frame demultiplexing of a stream cut anywhere, the
// hijack request and the response head.
#include "runtime/docker/docker_exec.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

using namespace ltb::runtime;
using namespace ltb::runtime::docker;

namespace {

std::string frame(int stream, const std::string &payload) {
  std::string header(8, '\0');
  header[0] = static_cast<char>(stream);
  const auto size = static_cast<std::uint32_t>(payload.size());
  header[4] = static_cast<char>((size >> 24) & 0xff);
  header[5] = static_cast<char>((size >> 16) & 0xff);
  header[6] = static_cast<char>((size >> 8) & 0xff);
  header[7] = static_cast<char>(size & 0xff);
  return header + payload;
}

struct Collected {
  std::string out;
  std::string err;
  std::vector<std::string> order; // "1:..." / "2:..." per piece, to see interleaving
  FrameDemux demux{[this](std::string_view data) {
                     out.append(data);
                     order.push_back("1:" + std::string(data));
                   },
                   [this](std::string_view data) {
                     err.append(data);
                     order.push_back("2:" + std::string(data));
                   }};
};

} // namespace

TEST_CASE("FrameDemux separates stdout and stderr frames given in one buffer") {
  Collected c;
  c.demux.feed(frame(1, "hello\n") + frame(2, "oops\n") + frame(1, "bye\n"));
  CHECK(c.out == "hello\nbye\n");
  CHECK(c.err == "oops\n");
  CHECK(c.order == std::vector<std::string>{"1:hello\n", "2:oops\n", "1:bye\n"});
  CHECK_FALSE(c.demux.incomplete());
}

TEST_CASE("FrameDemux gives the same result for every way of cutting the stream") {
  const std::string stream = frame(1, "first line\n") + frame(2, std::string(300, 'e')) +
                             frame(1, "") + frame(1, std::string(70000, 'o')) + frame(2, "x");
  const std::string want_out = "first line\n" + std::string(70000, 'o');
  const std::string want_err = std::string(300, 'e') + "x";
  SUBCASE("one byte at a time") {
    Collected c;
    for (char byte : stream) {
      c.demux.feed(std::string_view(&byte, 1));
    }
    CHECK(c.out == want_out);
    CHECK(c.err == want_err);
    CHECK_FALSE(c.demux.incomplete());
  }
  SUBCASE("cut at every position into two pieces (headers split too)") {
    for (std::size_t cut = 0; cut <= 40; ++cut) {
      Collected c;
      c.demux.feed(std::string_view(stream).substr(0, cut));
      c.demux.feed(std::string_view(stream).substr(cut));
      CHECK(c.out == want_out);
      CHECK(c.err == want_err);
      CHECK_FALSE(c.demux.incomplete());
    }
  }
  SUBCASE("uneven chunks") {
    Collected c;
    std::size_t at = 0;
    std::size_t size = 1;
    while (at < stream.size()) {
      c.demux.feed(std::string_view(stream).substr(at, size));
      at += size;
      size = size * 3 % 4099 + 1;
    }
    CHECK(c.out == want_out);
    CHECK(c.err == want_err);
  }
}

TEST_CASE("FrameDemux hands a frame's payload on as it arrives, before the frame is complete") {
  Collected c;
  const auto whole = frame(1, "abcdef");
  c.demux.feed(std::string_view(whole).substr(0, 11)); // header + "abc"
  CHECK(c.out == "abc");
  CHECK(c.demux.incomplete());
  c.demux.feed(std::string_view(whole).substr(11));
  CHECK(c.out == "abcdef");
  CHECK_FALSE(c.demux.incomplete());
}

TEST_CASE("FrameDemux reports a stream that ends inside a header or a payload") {
  Collected c;
  c.demux.feed(frame(1, "ok").substr(0, 5));
  CHECK(c.demux.incomplete());
  Collected d;
  d.demux.feed(frame(2, "truncated").substr(0, 12));
  CHECK(d.demux.incomplete());
  CHECK(d.err == "trun");
}

TEST_CASE("FrameDemux keeps stream 0 (stdin echo) with stdout and sizes above 16 bits") {
  Collected c;
  const std::string big(65536 + 3, 'z');
  c.demux.feed(frame(0, "echo") + frame(1, big));
  CHECK(c.out == "echo" + big);
  CHECK(c.err.empty());
}

TEST_CASE("exec_start_request asks to upgrade the connection and carries the Tty setting") {
  const auto text = exec_start_request("/v1.41", "abc123", true);
  CHECK(text.rfind("POST /v1.41/exec/abc123/start HTTP/1.1\r\n", 0) == 0);
  CHECK(text.find("\r\nUpgrade: tcp\r\n") != std::string::npos);
  CHECK(text.find("\r\nConnection: Upgrade\r\n") != std::string::npos);
  const auto blank = text.find("\r\n\r\n");
  REQUIRE(blank != std::string::npos);
  const auto body = text.substr(blank + 4);
  CHECK(text.find("Content-Length: " + std::to_string(body.size()) + "\r\n") != std::string::npos);
  const auto parsed = nlohmann::json::parse(body);
  CHECK(parsed["Tty"] == true);
  CHECK(parsed["Detach"] == false);
  CHECK(nlohmann::json::parse(
            exec_start_request("", "x", false)
                .substr(exec_start_request("", "x", false).find("\r\n\r\n") + 4))["Tty"] == false);
}

TEST_CASE("parse_response_head waits for the whole head and finds where the stream starts") {
  const std::string head = "HTTP/1.1 101 UPGRADED\r\n"
                           "Content-Type: application/vnd.docker.raw-stream\r\n"
                           "Connection: Upgrade\r\n"
                           "Upgrade: tcp\r\n\r\n";
  for (std::size_t cut = 0; cut < head.size(); ++cut) {
    CHECK_FALSE(parse_response_head(std::string_view(head).substr(0, cut)).has_value());
  }
  const auto parsed = parse_response_head(head + "\x01\0\0\0");
  REQUIRE(parsed.has_value());
  CHECK(parsed->status == 101);
  CHECK(parsed->length == head.size());
  CHECK_FALSE(parsed->content_length.has_value());
}

TEST_CASE("parse_response_head reads an error's status and body length") {
  const std::string text = "HTTP/1.1 409 Conflict\r\ncontent-length:  57\r\nContent-Type: "
                           "application/json\r\n\r\n{\"message\":";
  const auto parsed = parse_response_head(text);
  REQUIRE(parsed.has_value());
  CHECK(parsed->status == 409);
  CHECK(parsed->content_length == 57u);
  CHECK(text.substr(parsed->length) == "{\"message\":");
}

TEST_CASE("parse_response_head gives status 0 for something that is not HTTP") {
  const auto early = parse_response_head("SSH-2.0-OpenSSH");
  REQUIRE(early.has_value());
  CHECK(early->status == 0);
  const auto garbled = parse_response_head("HTTP/1.1 abc\r\n\r\n");
  REQUIRE(garbled.has_value());
  CHECK(garbled->status == 0);
}

TEST_CASE("attached_exec_create_body attaches stdin only when there is one") {
  AttachedExec spec;
  spec.argv = {"sh", "-c", "exit 3"};
  auto body = nlohmann::json::parse(attached_exec_create_body(spec));
  CHECK(body["AttachStdin"] == false);
  CHECK(body["AttachStdout"] == true);
  CHECK(body["AttachStderr"] == true);
  CHECK(body["Tty"] == false);
  CHECK(body["Cmd"] == nlohmann::json::array({"sh", "-c", "exit 3"}));
  CHECK_FALSE(body.contains("Env"));
  spec.stdin_fd = 0;
  spec.tty = true;
  spec.env = {"TERM=xterm-256color"};
  body = nlohmann::json::parse(attached_exec_create_body(spec));
  CHECK(body["AttachStdin"] == true);
  CHECK(body["Tty"] == true);
  CHECK(body["Env"] == nlohmann::json::array({"TERM=xterm-256color"}));
}

TEST_CASE("exec_attached refuses an empty command before talking to Docker") {
  AttachedExec spec;
  spec.container = "ltbtest-none";
  auto result = exec_attached(spec, "/nonexistent/docker.sock");
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error().code == ltb::ExitCode::usage);
}

TEST_CASE("exec_attached names the socket when Docker cannot be reached") {
  AttachedExec spec;
  spec.container = "ltbtest-none";
  spec.argv = {"true"};
  auto result = exec_attached(spec, "/nonexistent/docker.sock");
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error().message.find("/nonexistent/docker.sock") != std::string::npos);
}
