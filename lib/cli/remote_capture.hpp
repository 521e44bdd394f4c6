#pragma once
// `ltb capture TARGET --remote URL`: the capture route of a daemon's network listener
// (`GET /v1/capture`, `ltb serve --listen`) read with libcurl, its pcap written out as it
// arrives. The pure parts (the URL, the query, the daemon's refusals, counting packets) are
// declared first, for the unit tests.

#include "cli/context.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace ltb::cli {

/// What `ltb capture` asks of the daemon (its options, as the route's query takes them).
struct CaptureQuery {
  std::string target;
  std::string lab;
  std::string filter;
  std::uint64_t count = 0; // 0: until the client goes
  std::string port;
};

/// A --remote URL that was checked: http or https, a host, no query, fragment or credentials.
struct RemoteUrl {
  std::string base; // scheme://host[:port][/path], without a trailing '/'
  std::string host; // an IPv6 address in brackets
  bool tls = false;
  bool loopback = false; // localhost, 127.0.0.0/8, ::1: plain HTTP stays on the machine
};

/// Checks a --remote URL; anything but an http(s) URL is a usage error.
Result<RemoteUrl> parse_remote_url(const std::string &url);

/// BASE/v1/capture?target=T[&lab=L][&filter=F][&count=N][&port=P], every value %-escaped.
std::string capture_url(const RemoteUrl &remote, const CaptureQuery &query);

/// The daemon's refusal (HTTP status and body) as the error ltb reports: the JSON's error and
/// help (a command's own `ltb: error:` and `help:` lines taken apart), its exit code, else 2 for
/// a 400 and 1 otherwise; 401 says how the token is given; `base` names the daemon.
Error capture_refusal(long status, const std::string &body, const std::string &base);

/// Reads the API token: the first line of `token_file` when one is given (refused when its group
/// or others may read or write it), else `env_token` ($LTB_TOKEN). Never puts the token in a
/// message.
Result<std::string> read_token(const std::string &token_file, const char *env_token);

/// Counts the whole packets of a pcap stream fed in pieces of any size.
class PcapCounter {
public:
  void feed(std::string_view bytes);
  std::uint64_t packets() const { return m_packets; }

private:
  std::string m_head; // the file header or a record header, as far as it came
  std::uint64_t m_left = 0;
  bool m_file_header = false;
  bool m_in_packet = false;
  bool m_swapped = false;
  bool m_unknown = false; // not a pcap: nothing more is counted
  std::uint64_t m_packets = 0;
};

struct RemoteCaptureOptions {
  std::string url;
  std::string token_file;
  std::string cacert;
  std::string write; // "" or "-": standard output
  CaptureQuery query;
};

/// Streams the capture from the daemon at options.url to standard output or FILE until the count
/// is reached, the daemon ends it, Ctrl-C (SIGINT, SIGTERM, SIGHUP) or the reader closes the
/// pipe; returns the exit code.
int run_remote_capture(const Globals &globals, const RemoteCaptureOptions &options);

} // namespace ltb::cli
