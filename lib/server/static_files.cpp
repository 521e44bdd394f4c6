#include "server/static_files.hpp"

#include <cctype>
#include <filesystem>
#include <map>

namespace ltb::server {

namespace fs = std::filesystem;

namespace {

std::string content_type(const fs::path &path) {
  static const std::map<std::string, std::string> k_types{
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"},
  };
  auto it = k_types.find(path.extension().string());
  return it == k_types.end() ? "application/octet-stream" : it->second;
}

/// Whether PATH (made canonical) lies under ROOT (canonical).
bool inside(const fs::path &root, const fs::path &path) {
  auto r = root.begin();
  auto p = path.begin();
  for (; r != root.end(); ++r, ++p) {
    if (p == path.end() || *r != *p) {
      return false;
    }
  }
  return true;
}

/// FILE.gz beside FILE, when it is a regular file under ROOT no older than FILE.
std::string gzip_beside(const fs::path &root, const fs::path &file) {
  std::error_code ec;
  fs::path gz = file;
  gz += ".gz";
  if (!fs::is_regular_file(gz, ec)) {
    return "";
  }
  const fs::path real = fs::canonical(gz, ec);
  if (ec || !inside(root, real)) {
    return "";
  }
  const auto zipped = fs::last_write_time(real, ec);
  const auto plain = ec ? zipped : fs::last_write_time(file, ec);
  return ec || zipped < plain ? "" : real.string();
}

std::string lower_trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
    text.remove_prefix(1);
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  std::string out(text);
  for (char &c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

} // namespace

bool accepts_gzip(const std::string &accept_encoding) {
  std::optional<bool> gzip;
  std::optional<bool> any;
  std::string_view rest = accept_encoding;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const auto semicolon = item.find(';');
    const std::string coding = lower_trimmed(item.substr(0, semicolon));
    bool allowed = true;
    if (semicolon != std::string_view::npos) {
      const std::string param = lower_trimmed(item.substr(semicolon + 1));
      if (param.rfind("q=", 0) == 0) {
        // q=0, 0., 0.0, 0.00 or 0.000: "not acceptable"; any other weight accepts.
        const std::string weight = param.substr(2);
        allowed = !(weight.size() >= 1 && weight[0] == '0' &&
                    weight.find_first_not_of("0.", 0) == std::string::npos);
      }
    }
    if (coding == "gzip" || coding == "x-gzip") {
      gzip = allowed;
    } else if (coding == "*") {
      any = allowed;
    }
  }
  return gzip.value_or(any.value_or(false));
}

std::optional<StaticFile> static_file(const std::string &root_dir, const std::string &target) {
  std::error_code ec;
  const fs::path root = fs::canonical(root_dir, ec);
  if (ec || !fs::is_regular_file(root / "index.html", ec)) {
    return std::nullopt;
  }
  const auto index = [&] {
    return StaticFile{(root / "index.html").string(), "text/html; charset=utf-8", "no-cache",
                      gzip_beside(root, root / "index.html")};
  };
  std::string path = target.substr(0, target.find_first_of("?#"));
  if (path.empty() || path.front() != '/' || path.find('\0') != std::string::npos ||
      path.find('%') != std::string::npos || path.find('\\') != std::string::npos) {
    return std::nullopt; // the UI's files have plain names: an escape is no file of theirs
  }
  if (path == "/" || path == "/index.html") {
    return index();
  }
  const fs::path relative = fs::path(path.substr(1));
  for (const auto &part : relative) {
    if (part == ".." || part == "." || (!part.empty() && part.string().front() == '.')) {
      return std::nullopt;
    }
  }
  const fs::path wanted = root / relative;
  if (fs::is_regular_file(wanted, ec)) {
    const fs::path real = fs::canonical(wanted, ec);
    if (ec || !inside(root, real)) {
      return std::nullopt;
    }
    const bool hashed = relative.begin() != relative.end() && *relative.begin() == "assets";
    return StaticFile{real.string(), content_type(real),
                      hashed ? "public, max-age=31536000, immutable" : "no-cache",
                      gzip_beside(root, real)};
  }
  // A path with an extension is a file that is not there; one without is a route of the UI.
  if (relative.has_extension()) {
    return std::nullopt;
  }
  return index();
}

} // namespace ltb::server
