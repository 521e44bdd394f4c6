#include "server/command.hpp"

#include "util/base64.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

namespace ltb::server {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

Error bad(const std::string &what) {
  return Error{
      fmt::format("bad command request: {}", what),
      "send {\"argv\": [...], \"tty\": {\"rows\": R, \"cols\": C} | null, \"files\": [...]} "
      "(see schemas/ltb-api.openapi.json)",
      ExitCode::usage};
}

Status write_file(const fs::path &path, const std::string &data, int mode) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) {
    return fail(fmt::format("cannot make {}: {}", path.parent_path().string(), ec.message()),
                "check the daemon's disk");
  }
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.close();
  if (!out) {
    return fail(fmt::format("cannot write {}", path.string()), "check the daemon's disk");
  }
  ::chmod(path.c_str(), static_cast<mode_t>(mode & 0755));
  return {};
}

} // namespace

std::string to_json(const CommandRequest &request) {
  json files = json::array();
  for (const auto &file : request.files) {
    json entries = json::array();
    for (const auto &entry : file.entries) {
      entries.push_back(
          {{"path", entry.path}, {"mode", entry.mode}, {"data", util::base64_encode(entry.data)}});
    }
    json one{{"index", file.index}, {"direction", file.output ? "out" : "in"}};
    if (!file.output) {
      one["main"] = file.main;
      one["entries"] = std::move(entries);
      if (!file.origin.empty()) {
        one["origin"] = file.origin;
      }
    }
    files.push_back(std::move(one));
  }
  json tty = nullptr;
  if (request.tty) {
    tty = {{"rows", request.tty->rows}, {"cols", request.tty->cols}};
  }
  return json{{"argv", request.argv}, {"tty", tty}, {"files", files}}.dump();
}

Status check_relative(const std::string &path) {
  if (path.empty() || path.size() > 1024 || path.find('\0') != std::string::npos ||
      path.front() == '/') {
    return fail(bad(fmt::format("file path '{}' is not a relative path", path)));
  }
  for (const auto &part : fs::path(path)) {
    if (part == ".." || part == "." || part.empty()) {
      return fail(bad(fmt::format("file path '{}' has a '{}' part", path, part.string())));
    }
  }
  return {};
}

Result<CommandRequest> parse_command_request(const std::string &body) {
  auto doc = json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return fail(bad("the body is not a JSON object"));
  }
  CommandRequest request;
  if (!doc.contains("argv") || !doc["argv"].is_array() || doc["argv"].empty()) {
    return fail(bad("'argv' must be a non-empty array of strings"));
  }
  for (const auto &word : doc["argv"]) {
    if (!word.is_string()) {
      return fail(bad("'argv' must be a non-empty array of strings"));
    }
    request.argv.push_back(word.get<std::string>());
  }
  if (doc.contains("tty") && !doc["tty"].is_null()) {
    const auto &tty = doc["tty"];
    if (!tty.is_object() || !tty.contains("rows") || !tty.contains("cols") ||
        !tty["rows"].is_number_unsigned() || !tty["cols"].is_number_unsigned() ||
        tty["rows"].get<unsigned>() > 10000 || tty["cols"].get<unsigned>() > 10000) {
      return fail(bad("'tty' must be null or {\"rows\": R, \"cols\": C}"));
    }
    request.tty = Terminal{static_cast<unsigned short>(tty["rows"].get<unsigned>()),
                           static_cast<unsigned short>(tty["cols"].get<unsigned>())};
  }
  if (doc.contains("files")) {
    if (!doc["files"].is_array()) {
      return fail(bad("'files' must be an array"));
    }
    for (const auto &f : doc["files"]) {
      FileArg file;
      if (!f.is_object() || !f.contains("index") || !f["index"].is_number_unsigned() ||
          f["index"].get<std::size_t>() >= request.argv.size()) {
        return fail(bad("each file needs an 'index' into argv"));
      }
      file.index = f["index"].get<int>();
      for (const auto &other : request.files) {
        if (other.index == file.index) {
          return fail(bad(fmt::format("two files name argv[{}]", file.index)));
        }
      }
      // Not value(): it throws on a direction that is not a string.
      const auto it = f.find("direction");
      const std::string direction =
          it != f.end() && it->is_string() ? it->get<std::string>() : std::string();
      if (direction != "in" && direction != "out") {
        return fail(bad("a file's 'direction' is \"in\" or \"out\""));
      }
      file.output = direction == "out";
      if (!file.output) {
        if (!f.contains("main") || !f["main"].is_string() || !f.contains("entries") ||
            !f["entries"].is_array()) {
          return fail(bad("an input file needs 'main' and 'entries'"));
        }
        file.main = f["main"].get<std::string>();
        LTB_CHECK(check_relative(file.main));
        bool has_main = false;
        for (const auto &e : f["entries"]) {
          if (!e.is_object() || !e.contains("path") || !e["path"].is_string() ||
              !e.contains("data") || !e["data"].is_string()) {
            return fail(bad("each entry needs 'path' and 'data' (base64)"));
          }
          Upload upload;
          upload.path = e["path"].get<std::string>();
          LTB_CHECK(check_relative(upload.path));
          if (e.contains("mode") && e["mode"].is_number_unsigned()) {
            upload.mode = e["mode"].get<int>() & 0755;
          }
          auto data = util::base64_decode(e["data"].get<std::string>());
          if (!data) {
            return fail(bad(fmt::format("entry '{}': {}", upload.path, data.error().message)));
          }
          upload.data = std::move(*data);
          has_main = has_main || upload.path == file.main;
          file.entries.push_back(std::move(upload));
        }
        if (!has_main) {
          return fail(bad(fmt::format("no entry is the main file '{}'", file.main)));
        }
        if (f.contains("origin")) {
          // Display only; still a plain absolute path, as a user would see it.
          if (!f["origin"].is_string() || f["origin"].get<std::string>().empty() ||
              f["origin"].get<std::string>().front() != '/' ||
              f["origin"].get<std::string>().size() > 4096 ||
              f["origin"].get<std::string>().find('\0') != std::string::npos) {
            return fail(bad("a file's 'origin' is its absolute path on the client"));
          }
          file.origin = f["origin"].get<std::string>();
        }
      }
      request.files.push_back(std::move(file));
    }
  }
  return request;
}

std::optional<Error> refuse_argv(const std::vector<std::string> &argv) {
  for (const auto &word : argv) {
    if (word == "--") {
      break;
    }
    if (word == "--state" || word.rfind("--state=", 0) == 0) {
      return Error{"the daemon chooses the state file; --state is not for requests",
                   "drop --state (root may run ltb --state PATH directly)", ExitCode::usage};
    }
  }
  // The first word that is not a global option is the command.
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const auto &word = argv[i];
    if (word == "--wait") {
      ++i;
      continue;
    }
    if (!word.empty() && word.front() == '-') {
      continue;
    }
    if (word == "serve" || word == "relay") {
      return Error{fmt::format("`ltb {}` does not run through the daemon", word),
                   word == "serve" ? "an admin starts the daemon as root: ltb serve"
                                   : "it is internal to ltb",
                   ExitCode::usage};
    }
    break;
  }
  return std::nullopt;
}

Result<Workspace> materialize(const CommandRequest &request, const std::string &dir) {
  Workspace workspace;
  workspace.dir = dir;
  if (::mkdir(dir.c_str(), 0700) != 0) {
    return fail(fmt::format("cannot make the request directory {}: {}", dir, std::strerror(errno)),
                "check the daemon's runtime directory");
  }
  workspace.cwd = (fs::path(dir) / "cwd").string();
  ::mkdir(workspace.cwd.c_str(), 0700);
  workspace.argv = request.argv;
  workspace.outputs.assign(request.files.size(), "");
  bool placed_as_typed = false;
  for (std::size_t k = 0; k < request.files.size(); ++k) {
    const auto &file = request.files[k];
    const fs::path base = fs::path(dir) / fmt::format("f{}", k);
    if (file.output) {
      ::mkdir(base.c_str(), 0700);
      workspace.outputs[k] = (base / "out").string();
      workspace.argv[file.index] = workspace.outputs[k];
      continue;
    }
    // Where the user's own path can stand: relative, plain, ending in the main file's name; the
    // first such file argument only, so that no two share a directory.
    const fs::path raw = request.argv[file.index];
    const auto typed = raw.lexically_normal();
    const bool as_typed = !placed_as_typed && !typed.empty() && typed.is_relative() &&
                          std::find(raw.begin(), raw.end(), "..") == raw.end() &&
                          check_relative(typed.string()) && typed.filename() == file.main;
    const fs::path root = as_typed ? fs::path(workspace.cwd) / typed.parent_path() : base;
    placed_as_typed = placed_as_typed || as_typed;
    for (const auto &entry : file.entries) {
      LTB_CHECK(write_file(root / entry.path, entry.data, entry.mode));
      workspace.inputs.push_back((root / entry.path).lexically_normal().string());
    }
    workspace.argv[file.index] = as_typed ? request.argv[file.index] : (root / file.main).string();
    if (!file.origin.empty()) {
      workspace.origins[(root / file.main).lexically_normal().string()] = file.origin;
    }
  }
  return workspace;
}

std::vector<OutputFile> collect_outputs(const Workspace &workspace) {
  std::vector<OutputFile> out;
  auto walk = [&](int file, const fs::path &root) {
    std::error_code ec;
    const auto status = fs::symlink_status(root, ec);
    if (fs::is_regular_file(status)) {
      out.push_back({file, "", root.string()});
      return;
    }
    if (!fs::is_directory(status)) {
      return;
    }
    for (auto it = fs::recursive_directory_iterator(root, ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      const auto path = it->path().lexically_normal().string();
      if (it->is_regular_file() && !it->is_symlink() &&
          std::find(workspace.inputs.begin(), workspace.inputs.end(), path) ==
              workspace.inputs.end()) {
        out.push_back({file, fs::relative(it->path(), root).string(), it->path().string()});
      }
    }
  };
  for (std::size_t k = 0; k < workspace.outputs.size(); ++k) {
    if (!workspace.outputs[k].empty()) {
      walk(static_cast<int>(k), workspace.outputs[k]);
    }
  }
  walk(-1, workspace.cwd);
  return out;
}

} // namespace ltb::server
