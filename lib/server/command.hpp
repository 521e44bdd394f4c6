#pragma once
// `POST /v1/commands`: the request (argv, terminal, files), its files written under a private
// directory (the daemon never opens a path a user named: it only writes what the client sent,
// under names it checked), and the output files the command left there, to send back.

#include "util/error.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ltb::server {

struct Upload {
  std::string path; // relative, no `..`
  std::string data;
  int mode = 0644;
};

/// A file argument of the command: argv[index] (argv without the program's name) names it.
/// "in": the client sent `entries` (a topology and every file it references, or one file) and
/// argv[index] becomes the path of `main` among them. "out": the command writes there, and what
/// it wrote (a file, or a directory's files) goes back to the client in file-out frames.
struct FileArg {
  int index = 0;
  bool output = false;
  std::string main;
  std::vector<Upload> entries;
  /// An input's absolute path on the client, for display only (recorded as the lab's source so
  /// that `ltb status` shows the user's own path); never opened. "" when not sent.
  std::string origin;
};

struct Terminal {
  unsigned short rows = 24;
  unsigned short cols = 80;
};

struct CommandRequest {
  std::vector<std::string> argv;
  std::optional<Terminal> tty;
  std::vector<FileArg> files;
};

/// The JSON body the client sends.
std::string to_json(const CommandRequest &request);
/// The body as the daemon reads it; a usage error (400) naming what is wrong.
Result<CommandRequest> parse_command_request(const std::string &body);

/// A path from a request, relative and without `..`, empty parts or NUL (else an error).
Status check_relative(const std::string &path);

/// Where a request's files went.
struct Workspace {
  std::string dir;               // the private directory (0700)
  std::string cwd;               // the child's working directory in it (outputs by default go here)
  std::vector<std::string> argv; // the request's argv with file arguments pointing into dir
  std::vector<std::string> outputs; // per file argument: the path the command writes ("" = input)
  std::vector<std::string> inputs;  // every input file written (never sent back as an output)
  /// Input main file as written here (absolute) -> its path on the client (FileArg::origin).
  std::map<std::string, std::string> origins;
};

/// Writes the request's files under `dir` (made here, 0700; it must not exist) and rewrites argv.
/// An input named by a plain relative path (`lab.yaml`, `labs/ospf.yaml`) goes at that path under
/// the working directory and keeps its argument, so that diagnostics name the file as its user
/// typed it; any other goes under a directory of its own (`f0/`).
Result<Workspace> materialize(const CommandRequest &request, const std::string &dir);

struct OutputFile {
  int file = -1;    // index into request.files; -1: written into the working directory
  std::string path; // relative to the file argument's path ("" = that file itself) or to cwd
  std::string abs;  // where it is now
};

/// The regular files the command wrote: at each output argument's path (a file, or a directory's
/// files), and new files in the working directory (`ltb save` without -o writes ./LAB-saved).
std::vector<OutputFile> collect_outputs(const Workspace &workspace);

/// The refusal of a command the daemon does not run for clients (internal ones, the daemon
/// itself) and of argv choosing the state file; nullopt when allowed.
std::optional<Error> refuse_argv(const std::vector<std::string> &argv);

} // namespace ltb::server
