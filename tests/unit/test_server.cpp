// The daemon's pure parts (frames, routes against the OpenAPI file, command requests, files) and
// its request limits against a real daemon on a temporary socket.

#include "cli/completion.hpp"
#include "cli/context.hpp"
#include "cli/remote.hpp"
#include "server/command.hpp"
#include "server/frame.hpp"
#include "server/router.hpp"
#include "server/server.hpp"
#include "server/terminal.hpp"
#include "testutil.hpp"
#include "util/base64.hpp"

#include <atomic>
#include <doctest/doctest.h>
#include <filesystem>
#include <fstream>
#include <grp.h>
#include <nlohmann/json.hpp>
#include <set>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;
using namespace ltb;

std::string slurp(const fs::path &path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

} // namespace

TEST_CASE("frames: encode and decode, in pieces, with bad headers refused") {
  const auto a = server::encode(server::Stream::stdout_data, "hello");
  REQUIRE(a.size() == 13);
  CHECK(a[0] == 1);
  CHECK(a.substr(1, 3) == std::string(3, '\0'));
  CHECK(static_cast<unsigned char>(a[7]) == 5);
  std::string big(300000, 'x');
  big[12345] = '\0';
  const auto b = server::encode(server::Stream::file_out, big);
  CHECK(static_cast<unsigned char>(b[5]) == 0x04); // 300000 = 0x0493E0
  CHECK(static_cast<unsigned char>(b[6]) == 0x93);
  CHECK(static_cast<unsigned char>(b[7]) == 0xE0);
  const std::string both = a + b + server::encode(server::Stream::exit, R"({"code":3})");
  server::Decoder decoder;
  std::vector<server::Frame> frames;
  for (std::size_t i = 0; i < both.size(); i += 7) { // 7-byte pieces: headers split too
    decoder.feed(std::string_view(both).substr(i, 7));
    for (;;) {
      auto next = decoder.next();
      REQUIRE(next);
      if (!*next) {
        break;
      }
      frames.push_back(**next);
    }
  }
  REQUIRE(frames.size() == 3);
  CHECK(frames[0].stream == server::Stream::stdout_data);
  CHECK(frames[0].payload == "hello");
  CHECK(frames[1].stream == server::Stream::file_out);
  CHECK(frames[1].payload == big);
  CHECK(frames[2].stream == server::Stream::exit);
  CHECK(decoder.buffered() == 0);

  server::Decoder bad;
  bad.feed(std::string("\x09\0\0\0\0\0\0\0", 8));
  CHECK_FALSE(bad.next());
  server::Decoder padding;
  padding.feed(std::string("\x01\0\x01\0\0\0\0\0", 8));
  CHECK_FALSE(padding.next());
  server::Decoder huge;
  huge.feed(std::string("\x01\0\0\0\x7f\0\0\0", 8));
  CHECK_FALSE(huge.next());

  const auto payload = server::file_out_payload(2, "sub/x.txt", std::string("a\nb\0c", 5));
  auto chunk = server::parse_file_out(payload);
  REQUIRE(chunk);
  CHECK(chunk->file == 2);
  CHECK(chunk->path == "sub/x.txt");
  CHECK(chunk->bytes == std::string("a\nb\0c", 5));
  CHECK_FALSE(server::parse_file_out("no header line"));
}

TEST_CASE("base64 round-trips every byte and refuses what is not base64") {
  std::string all;
  for (int i = 0; i < 256; ++i) {
    all += static_cast<char>(i);
  }
  for (std::size_t n = 0; n < 7; ++n) {
    const auto text = all.substr(0, 250 + n);
    auto back = util::base64_decode(util::base64_encode(text));
    REQUIRE(back);
    CHECK(*back == text);
  }
  CHECK(util::base64_encode("ltb") == "bHRi");
  CHECK(util::base64_encode("lt") == "bHQ=");
  CHECK_FALSE(util::base64_decode("bHR"));
  CHECK_FALSE(util::base64_decode("bH=i"));
  CHECK_FALSE(util::base64_decode("b*Ri"));
}

TEST_CASE("router: its table equals the OpenAPI file's paths, both ways") {
  std::ifstream in(fs::path(LTB_SOURCE_DIR) / "schemas/ltb-api.openapi.json");
  REQUIRE(in.good());
  const auto doc = nlohmann::json::parse(in);
  std::set<std::pair<std::string, std::string>> documented;
  for (const auto &[path, item] : doc.at("paths").items()) {
    for (const auto &[method, operation] : item.items()) {
      std::string upper = method;
      for (auto &c : upper) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      }
      documented.insert({upper, path});
    }
  }
  std::set<std::pair<std::string, std::string>> routed;
  for (const auto &route : server::routes()) {
    routed.insert({route.method, route.path});
  }
  CHECK(documented == routed);
  CHECK(doc.at("openapi").get<std::string>().rfind("3.0", 0) == 0);

  auto lab = server::match_route("GET", "/v1/labs/ospf-lab?x=1");
  REQUIRE(lab.route);
  CHECK(lab.route->id == server::RouteId::lab);
  CHECK(lab.params.at("lab") == "ospf-lab");
  auto wrong_method = server::match_route("DELETE", "/v1/labs");
  CHECK(wrong_method.route == nullptr);
  CHECK(wrong_method.path_matched);
  auto nothing = server::match_route("GET", "/v2/labs");
  CHECK(nothing.route == nullptr);
  CHECK_FALSE(nothing.path_matched);
}

TEST_CASE("command requests: JSON both ways, and bad ones refused with what is wrong") {
  server::CommandRequest request;
  request.argv = {"up", "lab.yaml", "--lab", "x"};
  request.tty = server::Terminal{40, 120};
  server::FileArg in;
  in.index = 1;
  in.main = "lab.yaml";
  in.entries = {{"lab.yaml", "name: x\n", 0644},
                {"configs/r1.conf", std::string("\0\xff", 2), 0600}};
  in.origin = "/home/alice/lab.yaml";
  request.files.push_back(in);
  server::FileArg out;
  out.index = 3;
  out.output = true;
  request.files.push_back(out);
  auto parsed = server::parse_command_request(server::to_json(request));
  REQUIRE(parsed);
  CHECK(parsed->argv == request.argv);
  REQUIRE(parsed->tty);
  CHECK(parsed->tty->rows == 40);
  CHECK(parsed->tty->cols == 120);
  REQUIRE(parsed->files.size() == 2);
  CHECK(parsed->files[0].entries[1].data == std::string("\0\xff", 2));
  CHECK(parsed->files[0].entries[1].mode == 0600);
  CHECK(parsed->files[1].output);
  CHECK(parsed->files[0].origin == "/home/alice/lab.yaml");

  for (const char *body : {
           "not json",
           R"({"argv": []})",
           R"({"argv": ["up", 3]})",
           R"({"argv": ["up"], "tty": {"rows": -1, "cols": 2}})",
           R"({"argv": ["up"], "files": [{"index": 5, "direction": "in"}]})",
           R"({"argv": ["up", "x"], "files": [{"index": 1, "direction": "sideways"}]})",
           R"({"argv": ["up", "x"], "files": [{"index": 1, "direction": "in", "main": "a",
               "entries": [{"path": "../etc/passwd", "data": ""}]}]})",
           R"({"argv": ["up", "x"], "files": [{"index": 1, "direction": "in", "main": "/etc/shadow",
               "entries": [{"path": "a", "data": ""}]}]})",
           R"({"argv": ["up", "x"], "files": [{"index": 1, "direction": "in", "main": "b",
               "entries": [{"path": "a", "data": ""}]}]})",
           R"({"argv": ["up", "x"], "files": [{"index": 1, "direction": "in", "main": "a",
               "entries": [{"path": "a", "data": "@@@@"}]}]})",
           R"({"argv": ["up", "x"], "files": [{"index": 1, "direction": "in", "main": "a",
               "entries": [{"path": "a", "data": ""}], "origin": "relative/a"}]})",
       }) {
    CAPTURE(body);
    auto bad = server::parse_command_request(body);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code == ExitCode::usage);
    CHECK(bad.error().message.find("bad command request") == 0);
  }

  CHECK(server::refuse_argv({"--state", "/tmp/x", "status"}));
  CHECK(server::refuse_argv({"--state=/tmp/x", "status"}));
  CHECK(server::refuse_argv({"-q", "serve"}));
  CHECK(server::refuse_argv({"relay", "serve"}));
  CHECK_FALSE(server::refuse_argv({"--wait", "5", "status"}));
  CHECK_FALSE(server::refuse_argv({"exec", "r1", "--", "ltb", "--state", "x"}));
}

TEST_CASE("command files: written under the private directory, outputs collected back") {
  test::TempDir tmp;
  server::CommandRequest request;
  request.argv = {"up", "lab.yaml", "-w", "out.pcap"};
  server::FileArg in;
  in.index = 1;
  in.main = "lab.yaml";
  in.entries = {{"lab.yaml", "name: x\n", 0644}, {"configs/r1.conf", "hostname r1\n", 0755}};
  in.origin = "/home/alice/lab.yaml";
  server::FileArg out;
  out.index = 3;
  out.output = true;
  request.files = {in, out};
  const auto dir = tmp.file("req");
  auto workspace = server::materialize(request, dir);
  REQUIRE(workspace);
  // The main file as written here -> the user's own path (display only).
  CHECK(workspace->origins ==
        std::map<std::string, std::string>{{dir + "/cwd/lab.yaml", "/home/alice/lab.yaml"}});
  CHECK((fs::status(dir).permissions() & fs::perms::all) == fs::perms::owner_all);
  // A plain relative path keeps its argument: the file is there under the working directory.
  CHECK(workspace->argv[1] == "lab.yaml");
  CHECK(slurp(workspace->cwd + "/lab.yaml") == "name: x\n");
  CHECK(slurp(workspace->cwd + "/configs/r1.conf") == "hostname r1\n");
  CHECK(workspace->argv[3] == dir + "/f1/out");
  CHECK(server::collect_outputs(*workspace).empty());
  // The command writes its output file, and something into its working directory.
  std::ofstream(workspace->argv[3]) << "pcap";
  fs::create_directories(workspace->cwd + "/lab-saved");
  std::ofstream(workspace->cwd + "/lab-saved/r1.conf") << "conf";
  auto outputs = server::collect_outputs(*workspace);
  REQUIRE(outputs.size() == 2);
  CHECK(outputs[0].file == 1);
  CHECK(outputs[0].path == "");
  CHECK(outputs[1].file == -1);
  CHECK(outputs[1].path == "lab-saved/r1.conf");
  // An existing directory is never reused.
  CHECK_FALSE(server::materialize(request, dir));
}

TEST_CASE("command files: only a plain relative path stands as typed") {
  test::TempDir tmp;
  auto placed = [&](const std::string &typed, const std::string &req) {
    server::CommandRequest request;
    request.argv = {"validate", typed};
    server::FileArg in;
    in.index = 1;
    in.main = "lab.yaml";
    in.entries = {{"lab.yaml", "name: x\n", 0644}};
    request.files = {in};
    auto workspace = server::materialize(request, tmp.file(req));
    REQUIRE(workspace);
    return workspace->argv[1];
  };
  CHECK(placed("labs/ospf/lab.yaml", "a") == "labs/ospf/lab.yaml");
  CHECK(slurp(tmp.file("a/cwd/labs/ospf/lab.yaml")) == "name: x\n");
  CHECK(placed("./lab.yaml", "b") == "./lab.yaml");
  CHECK(placed("../lab.yaml", "c") == tmp.file("c") + "/f0/lab.yaml");
  CHECK(placed("x/../lab.yaml", "d") == tmp.file("d") + "/f0/lab.yaml");
  CHECK(placed("/home/u/lab.yaml", "e") == tmp.file("e") + "/f0/lab.yaml");
  CHECK(placed("other.yaml", "f") == tmp.file("f") + "/f0/lab.yaml");
}

TEST_CASE("remote mode: a file argument outside the request's directory is refused") {
  test::TempDir tmp;
  tmp.write("req/f0/lab.yaml",
            "name: x\ntopology:\n  nodes:\n    a: {kind: linux, image: ltb/busybox}\n");
  tmp.write("req/f1/evil.yaml",
            "name: y\ntopology:\n  nodes:\n    a: {kind: frr, startup-config: /etc/hostname}\n");
  ::setenv("LTB_REMOTE_DIR", tmp.file("req").c_str(), 1);
  auto parse = [&](std::vector<std::string> words) {
    ltb::cli::Globals globals;
    ltb::cli::Registry registry;
    auto app = ltb::cli::build_app(globals, registry);
    words.insert(words.begin(), "ltb");
    std::vector<char *> argv;
    for (auto &w : words) {
      argv.push_back(w.data());
    }
    app->parse(static_cast<int>(argv.size()), argv.data());
    return ltb::cli::check_remote_files(*app);
  };
  CHECK(parse({"up", tmp.file("req/f0/lab.yaml")}));
  CHECK(parse({"status"}));
  auto shadow = parse({"up", "/etc/shadow"});
  REQUIRE_FALSE(shadow);
  CHECK(shadow.error().message.find("/etc/shadow") == 0);
  CHECK(shadow.error().code == ExitCode::usage);
  CHECK_FALSE(parse({"capture", "r1", "-w", "/tmp/x.pcap"}));
  CHECK_FALSE(parse({"capture", "r1", "--write=/root/x.pcap"}));
  CHECK_FALSE(parse({"up", tmp.file("req/f0/../../lab.yaml")}));
  auto evil = parse({"up", tmp.file("req/f1/evil.yaml")});
  REQUIRE_FALSE(evil);
  CHECK(evil.error().message.find("outside its directory") != std::string::npos);
  ::unsetenv("LTB_REMOTE_DIR");
}

namespace {

/// A daemon on a temporary socket for the limit tests.
struct TestDaemon {
  test::TempDir tmp;
  std::atomic<bool> stop{false};
  std::thread thread;
  std::string socket;
  ltb::Status result;

  explicit TestDaemon(server::ServeOptions options) {
    socket = tmp.file("ltb.sock");
    options.socket_path = socket;
    options.state_path = tmp.file("state.db");
    const auto *group = ::getgrgid(::getegid());
    options.group = group ? group->gr_name : "root";
    thread = std::thread([this, options] {
      result = server::serve(options, server::passwd_caller, stop, [](const std::string &) {});
    });
    for (int i = 0; i < 500 && !fs::exists(socket); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ~TestDaemon() {
    stop = true;
    thread.join();
  }

  int connect() const {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, socket.c_str(), sizeof(addr.sun_path) - 1);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) == 0);
    return fd;
  }

  /// Sends `request` (then half-closes when asked) and returns the whole answer.
  std::string ask(const std::string &request, bool half_close = true) const {
    const int fd = connect();
    ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    if (half_close) {
      ::shutdown(fd, SHUT_WR);
    }
    std::string answer;
    char buffer[4096];
    ssize_t n = 0;
    while ((n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0) {
      answer.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    return answer;
  }
};

} // namespace

TEST_CASE("daemon: limits and malformed requests get their status, and it carries on") {
  if (::geteuid() != 0) {
    test::missing_prerequisite("the tests do not run as root", "the daemon's socket");
    return;
  }
  server::ServeOptions options;
  options.body_limit = 1 << 20;
  options.header_limit = 2048;
  options.header_timeout = std::chrono::seconds(1);
  TestDaemon daemon(options);
  REQUIRE(fs::exists(daemon.socket));
  CHECK((fs::status(daemon.socket).permissions() & fs::perms::all) ==
        (fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
         fs::perms::group_write));
  const std::string version = "GET /v1/version HTTP/1.1\r\nHost: ltb\r\nConnection: close\r\n\r\n";
  auto ok = daemon.ask(version);
  CHECK(ok.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(ok.find(R"("api":"v1")") != std::string::npos);

  CHECK(daemon.ask("GARBAGE\r\n\r\n").rfind("HTTP/1.1 400", 0) == 0);
  CHECK(daemon.ask("GET /v1/nothing HTTP/1.1\r\nHost: x\r\n\r\n").rfind("HTTP/1.1 404", 0) == 0);
  CHECK(daemon.ask("DELETE /v1/labs HTTP/1.1\r\nHost: x\r\n\r\n").rfind("HTTP/1.1 405", 0) == 0);
  const auto long_head =
      "GET /v1/version HTTP/1.1\r\nHost: x\r\nX-Long: " + std::string(4000, 'a') + "\r\n\r\n";
  CHECK(daemon.ask(long_head).rfind("HTTP/1.1 431", 0) == 0);
  const auto huge = "POST /v1/commands HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n"
                    "Connection: Upgrade\r\nUpgrade: ltb-stream/1\r\n\r\n";
  const auto too_large = daemon.ask(huge, false);
  CHECK(too_large.rfind("HTTP/1.1 413", 0) == 0);
  CHECK(too_large.find("over 1 MiB") != std::string::npos);
  // A client that sends half a head and waits: 408 after the head timeout.
  CHECK(daemon.ask("GET /v1/version HTTP/1.1\r\n", false).rfind("HTTP/1.1 408", 0) == 0);
  const std::string body = R"({"argv": []})";
  const auto bad_body = daemon.ask(
      "POST /v1/commands HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: ltb-stream/1\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body);
  CHECK(bad_body.rfind("HTTP/1.1 400", 0) == 0);
  CHECK(bad_body.find("bad command request") != std::string::npos);
  // Without an upgrade, the whole output in JSON; the body is checked all the same.
  const auto no_upgrade = daemon.ask("POST /v1/commands HTTP/1.1\r\nHost: x\r\nContent-Length: 2"
                                     "\r\n\r\n{}");
  CHECK(no_upgrade.rfind("HTTP/1.1 400", 0) == 0);
  CHECK(no_upgrade.find("bad command request") != std::string::npos);
  const auto other_upgrade = daemon.ask("POST /v1/commands HTTP/1.1\r\nHost: x\r\nConnection: "
                                        "Upgrade\r\nUpgrade: h2c\r\nContent-Length: 2\r\n\r\n{}");
  CHECK(other_upgrade.rfind("HTTP/1.1 426", 0) == 0);
  // Every answer carries the security headers.
  CHECK(no_upgrade.find("X-Content-Type-Options: nosniff") != std::string::npos);
  CHECK(no_upgrade.find("X-Frame-Options: DENY") != std::string::npos);
  // After all that it still answers.
  CHECK(daemon.ask(version).rfind("HTTP/1.1 200", 0) == 0);
  auto whoami = daemon.ask("GET /v1/whoami HTTP/1.1\r\nHost: ltb\r\nConnection: close\r\n\r\n");
  CHECK(whoami.find(R"("name":"root")") != std::string::npos);
}

TEST_CASE("remote mode: a file's source is its origin, else the name the client gave it") {
  if (::getuid() != 0) {
    const char *ci = std::getenv("CI");
    REQUIRE_MESSAGE(!(ci && std::string(ci) == "true"), "remote mode is root's only: run as root");
    MESSAGE("not root: remote mode is root's (the daemon's child) only; not checked");
    return;
  }
  test::TempDir tmp;
  tmp.write("req/cwd/labs/lab.yaml", "name: x\n");
  const auto previous = std::filesystem::current_path();
  std::filesystem::current_path(tmp.file("req/cwd"));
  ::setenv("LTB_REMOTE", "1", 1);
  ::setenv("LTB_REMOTE_DIR", tmp.file("req").c_str(), 1);
  ::unsetenv("LTB_REMOTE_ORIGINS");
  // The web UI names no origin: the name it gave, not the daemon's copy.
  CHECK(ltb::cli::remote_origin("labs/lab.yaml") == "labs/lab.yaml");
  CHECK(ltb::cli::remote_origin(tmp.file("req/cwd/labs/lab.yaml")) == "labs/lab.yaml");
  CHECK(ltb::cli::remote_origin("/etc/hostname").empty());
  // The CLI names the user's own path.
  const std::string origins =
      R"({")" + tmp.file("req/cwd/labs/lab.yaml") + R"(": "/home/alice/labs/lab.yaml"})";
  ::setenv("LTB_REMOTE_ORIGINS", origins.c_str(), 1);
  CHECK(ltb::cli::remote_origin("labs/lab.yaml") == "/home/alice/labs/lab.yaml");
  ::unsetenv("LTB_REMOTE_ORIGINS");
  ::unsetenv("LTB_REMOTE_DIR");
  ::unsetenv("LTB_REMOTE");
  std::filesystem::current_path(previous);
}

// Found by fuzz_api_request: nlohmann's value() throws on a value of another type, and nothing
// in a connection's thread catches it, so one message ended the daemon.
TEST_CASE("terminal messages and resize frames of any shape are read without throwing") {
  using server::TerminalMessage;
  const auto resize = server::parse_terminal_message(R"({"type":"resize","rows":40,"cols":120})");
  CHECK(resize.type == TerminalMessage::Type::resize);
  CHECK(resize.rows == 40);
  CHECK(resize.cols == 120);
  const auto ack = server::parse_terminal_message(R"({"type":"ack","bytes":65536})");
  CHECK(ack.type == TerminalMessage::Type::ack);
  CHECK(ack.bytes == 65536);
  for (const char *text :
       {R"({"type":"resize","rows":"40","cols":120})", R"({"type":"resize","rows":40,"cols":null})",
        R"({"type":"resize","rows":1e300,"cols":80})", R"({"type":"resize","rows":1001,"cols":80})",
        R"({"type":"resize","rows":-1,"cols":80})", R"({"type":5})", R"({"type":["ack"]})",
        R"({"type":"ack","bytes":"9"})", R"({"type":"ack","bytes":1e300})",
        R"({"type":"ack","bytes":-5})", "[]", "not json"}) {
    CAPTURE(text);
    CHECK(server::parse_terminal_message(text).type == TerminalMessage::Type::none);
  }

  const auto size = server::parse_resize(R"({"rows":50,"cols":200})");
  REQUIRE(size);
  CHECK(size->rows == 50);
  CHECK(size->cols == 200);
  for (const char *payload :
       {R"({"rows":"50","cols":200})", R"({"rows":50})", R"({"rows":1e300,"cols":200})",
        R"({"rows":70000,"cols":200})", R"({"rows":0,"cols":200})", "{}", "7"}) {
    CAPTURE(payload);
    CHECK_FALSE(server::parse_resize(payload));
  }
}

TEST_CASE("a command request's file with a direction that is not a string is refused") {
  const auto bad = server::parse_command_request(
      R"({"argv": ["up", "x"], "files": [{"index": 1, "direction": 5}]})");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().code == ExitCode::usage);
  CHECK(bad.error().message.find("'direction'") != std::string::npos);
}
