#include "cli/remote_capture.hpp"
#include "testutil.hpp"

#include <cstdint>
#include <doctest/doctest.h>
#include <fstream>
#include <sys/stat.h>

using namespace ltb;
using namespace ltb::cli;

TEST_CASE("remote capture: only an http(s) base URL is taken, and loopback is told apart") {
  auto tls = parse_remote_url("https://labhost:8443/");
  REQUIRE(tls);
  CHECK(tls->base == "https://labhost:8443");
  CHECK(tls->host == "labhost");
  CHECK(tls->tls);
  CHECK_FALSE(tls->loopback);

  auto plain = parse_remote_url("HTTP://127.0.0.1:8080");
  REQUIRE(plain);
  CHECK(plain->base == "http://127.0.0.1:8080");
  CHECK_FALSE(plain->tls);
  CHECK(plain->loopback);
  CHECK(parse_remote_url("http://localhost:1")->loopback);
  CHECK(parse_remote_url("http://127.1.2.3:1")->loopback);
  CHECK(parse_remote_url("http://[::1]:8080")->loopback);
  CHECK_FALSE(parse_remote_url("http://[2001:db8::1]:8080")->loopback);
  CHECK_FALSE(parse_remote_url("http://128.0.0.1")->loopback);
  // Behind a reverse proxy, under a path.
  CHECK(parse_remote_url("https://proxy/ltb/")->base == "https://proxy/ltb");

  for (const char *bad :
       {"labhost:8443", "ftp://labhost", "file:///etc/passwd", "", "https://",
        "https://labhost/?x=1", "https://labhost/#top", "https://alice:secret@labhost"}) {
    CAPTURE(bad);
    auto refused = parse_remote_url(bad);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == ExitCode::usage);
    CHECK(refused.error().message.find("--remote") == 0);
  }
}

TEST_CASE("remote capture: the query escapes every value and leaves out the empty ones") {
  const auto remote = *parse_remote_url("https://labhost:8443");
  CHECK(capture_url(remote, {"r1-r2", "", "", 0, ""}) ==
        "https://labhost:8443/v1/capture?target=r1-r2");
  CHECK(capture_url(remote, {"r1:eth1", "my lab", "tcp port 80 && host 10.0.0.1", 4, "h1"}) ==
        "https://labhost:8443/v1/capture?target=r1%3Aeth1&lab=my%20lab"
        "&filter=tcp%20port%2080%20%26%26%20host%2010.0.0.1&count=4&port=h1");
  // Nothing a value holds can add a parameter or end the URL.
  CHECK(capture_url(remote, {"a&count=1#x", "", "", 0, ""}) ==
        "https://labhost:8443/v1/capture?target=a%26count%3D1%23x");
}

TEST_CASE("remote capture: a daemon's refusal reads as ltb's own errors") {
  const std::string base = "https://labhost:8443";
  SUBCASE("a command's stderr: its error and help lines, its exit code") {
    auto error = capture_refusal(
        422,
        R"J({"error":"ltb: error: no link n1-n9 in lab demo\nhelp: did you mean n1-n2?\n","help":null,"exit":1})J",
        base);
    CHECK(error.message == "no link n1-n9 in lab demo");
    CHECK(error.help == "did you mean n1-n2?");
    CHECK(error.code == ExitCode::failed);
    error = capture_refusal(
        422,
        R"J({"error":"ltb: error: invalid filter 'tcpp'\nhelp: see pcap-filter(7)\n","exit":2})J",
        base);
    CHECK(error.message == "invalid filter 'tcpp'");
    CHECK(error.code == ExitCode::usage);
  }
  SUBCASE("the route's own refusal: error and help; a 400 is a usage error") {
    auto error = capture_refusal(
        400, R"J({"error":"GET /v1/capture needs target=TARGET","help":"a link (r1-r2)"})J", base);
    CHECK(error.message == "GET /v1/capture needs target=TARGET");
    CHECK(error.help == "a link (r1-r2)");
    CHECK(error.code == ExitCode::usage);
    error = capture_refusal(500, R"J({"error":"cannot start ltb","help":"see the log","exit":7})J",
                            base);
    CHECK(error.code == ExitCode::failed); // not an exit code ltb documents
  }
  SUBCASE("401: where the token comes from, not the daemon's login advice") {
    auto error = capture_refusal(
        401, R"J({"error":"authentication required","help":"log in (POST /v1/login ...)"})J", base);
    CHECK(error.message.find(base) != std::string::npos);
    CHECK(error.message.find("401") != std::string::npos);
    CHECK(error.help.find("LTB_TOKEN") != std::string::npos);
    CHECK(error.help.find("--token-file") != std::string::npos);
    CHECK(error.code == ExitCode::failed);
  }
  SUBCASE("not the ltb daemon: the status, and what URL to give") {
    auto error = capture_refusal(404, "<html>not found</html>", base);
    CHECK(error.message == base + " has no capture route (HTTP 404)");
    CHECK(error.help.find("ltb serve --listen") != std::string::npos);
    error = capture_refusal(502, "", base);
    CHECK(error.message.find("HTTP 502") != std::string::npos);
    CHECK(error.code == ExitCode::failed);
  }
}

TEST_CASE("remote capture: the token from LTB_TOKEN or a private file's first line") {
  ltb::test::TempDir dir;
  CHECK(*read_token("", " ltb_0123_abcd \n") == "ltb_0123_abcd");
  auto missing = read_token("", nullptr);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == ExitCode::usage);
  CHECK(missing.error().message.find("LTB_TOKEN") != std::string::npos);
  CHECK_FALSE(read_token("", ""));

  const auto file = dir.file("token");
  std::ofstream(file) << "ltb_file_token\r\nsecond line\n";
  ::chmod(file.c_str(), 0600);
  CHECK(*read_token(file, "ltb_env_token") == "ltb_file_token"); // the option wins

  ::chmod(file.c_str(), 0644);
  auto shared = read_token(file, nullptr);
  REQUIRE_FALSE(shared);
  CHECK(shared.error().message.find("0644") != std::string::npos);
  CHECK(shared.error().help == "chmod 600 " + file);
  CHECK(shared.error().message.find("ltb_file_token") == std::string::npos);

  auto absent = read_token(dir.file("none"), "ltb_env_token");
  REQUIRE_FALSE(absent);
  CHECK(absent.error().message.find("none") != std::string::npos);

  // A token cannot carry a second header; the message does not repeat it.
  auto injected = read_token("", "ltb_x\r\nX-Evil: 1");
  REQUIRE_FALSE(injected);
  CHECK(injected.error().message.find("ltb_x") == std::string::npos);
  CHECK_FALSE(read_token("", "two words"));
}

namespace {

std::string le32(std::uint32_t value) {
  std::string out(4, '\0');
  for (int i = 0; i < 4; ++i) {
    out[static_cast<std::size_t>(i)] = static_cast<char>((value >> (8 * i)) & 0xff);
  }
  return out;
}

std::string be32(std::uint32_t value) {
  std::string out = le32(value);
  return {out.rbegin(), out.rend()};
}

} // namespace

TEST_CASE("remote capture: packets are counted whole, however the stream is cut") {
  std::string stream = le32(0xa1b2c3d4) + std::string(20, '\0');
  for (std::uint32_t length : {60u, 0u, 1514u, 98u}) {
    stream += le32(1) + le32(2) + le32(length) + le32(length) + std::string(length, 'x');
  }
  for (std::size_t piece : {1u, 7u, 16u, 100u, 100000u}) {
    CAPTURE(piece);
    PcapCounter counter;
    std::uint64_t seen = 0;
    for (std::size_t at = 0; at < stream.size(); at += piece) {
      counter.feed(std::string_view(stream).substr(at, piece));
      CHECK(counter.packets() >= seen);
      seen = counter.packets();
    }
    CHECK(counter.packets() == 4);
  }
  PcapCounter cut;
  cut.feed(std::string_view(stream).substr(0, stream.size() - 1));
  CHECK(cut.packets() == 3); // the last one is not whole yet

  // Big-endian, nanosecond timestamps.
  std::string swapped =
      be32(0xa1b23c4d) + std::string(20, '\0') + be32(1) + be32(2) + be32(3) + be32(3) + "abc";
  PcapCounter other;
  other.feed(swapped);
  CHECK(other.packets() == 1);

  PcapCounter html;
  html.feed("<!doctype html><title>not a capture</title>");
  CHECK(html.packets() == 0);
}
