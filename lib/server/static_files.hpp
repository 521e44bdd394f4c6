#pragma once
// The web UI's files, as `ltb serve` answers them from its --web-root: a request path to a file
// under the root (never outside it: no `..`, no symlink out), its media type and caching, and the
// single-page app's fallback to index.html for a path that is the UI's own route.

#include <optional>
#include <string>

namespace ltb::server {

struct StaticFile {
  std::string path;          // the file to send (absolute, under the root)
  std::string content_type;  // from its extension
  std::string cache_control; // hashed assets forever, index.html never
  /// The same file compressed (PATH.gz, made when the UI is built), for a client that accepts
  /// gzip; "" when there is none or it is older than the file.
  std::string gzip_path;
};

/// Whether an Accept-Encoding header's value accepts gzip: the coding named (or `*`) without
/// q=0, as RFC 9110 section 12.5.3 reads.
bool accepts_gzip(const std::string &accept_encoding);

/// The file for TARGET (a request target; its query is ignored) under ROOT; nullopt when ROOT
/// has no index.html (the UI is not installed) or the target is not something the UI has
/// (a missing asset: 404, not index.html).
std::optional<StaticFile> static_file(const std::string &root, const std::string &target);

} // namespace ltb::server
