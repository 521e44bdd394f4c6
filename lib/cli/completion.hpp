#pragma once
// Shell completion scripts generated from the CLI11 definition (bash, zsh, fish). Lab and node
// names complete from the state file through the hidden `ltb __complete` command.

#include <string>

#include <CLI/CLI.hpp>

namespace ltb::cli {

struct Globals;
struct Command;

/// Builds the whole command line definition (used by main and by the completion generator).
std::unique_ptr<CLI::App> build_app(Globals &globals, std::vector<Command> &registry);

/// The completion script for `shell` ("bash", "zsh" or "fish"); empty for an unknown shell.
std::string completion_script(const CLI::App &app, const std::string &shell);

} // namespace ltb::cli
