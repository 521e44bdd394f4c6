// Generates bash, zsh and fish completion scripts from the CLI11 definition, so that a new command
// or option is completed without anyone editing three shell dialects by hand. The definition is
// first reduced to a small model (commands, options, positionals, what each value is), then each
// shell's writer prints that model. Everything is emitted in definition order: the committed
// scripts under completions/ must come out byte-for-byte the same on every run.
#include "cli/completion.hpp"

#include <algorithm>
#include <cctype>
#include <fmt/format.h>
#include <set>

namespace ltb::cli {

namespace {

/// What a value (of an option or a positional) completes to.
enum class ValueKind {
  none,   // a flag: takes no value
  text,   // free text: nothing to offer
  file,   // a topology file: *.yaml, *.yml and directories
  path,   // any file
  lab,    // a lab name from the state file
  node,   // a node name from the state file (of the lab given by --lab or a LAB positional)
  choice, // one of a fixed list
};

struct Value {
  ValueKind kind = ValueKind::none;
  std::string type; // CLI11 type name without validator descriptions, e.g. "PATH"
  std::vector<std::string> choices;
};

struct OptionSpec {
  std::vector<std::string> names; // "-q", "--quiet": short names first, as CLI11 lists them
  std::string description;
  Value value;
};

struct PositionalSpec {
  std::string name;
  Value value;
  bool required = false;
  bool repeats = false; // takes every remaining word
};

struct CommandSpec {
  std::string name;
  std::vector<std::string> aliases;
  std::string description;
  std::vector<OptionSpec> options; // its own, then the global ones it accepts (fallthrough)
  std::vector<PositionalSpec> positionals;
};

struct Spec {
  std::string program;
  std::vector<OptionSpec> globals;
  std::vector<CommandSpec> commands;
};

std::vector<std::string> split(const std::string &text, char separator) {
  std::vector<std::string> parts;
  std::string::size_type start = 0;
  while (true) {
    auto end = text.find(separator, start);
    parts.push_back(text.substr(start, end - start));
    if (end == std::string::npos) {
      return parts;
    }
    start = end + 1;
  }
}

Value classify(const CLI::Option &option) {
  Value value;
  if (option.get_items_expected_max() == 0) {
    return value;
  }
  // CLI11 appends validator descriptions after a ':' ("N:INT in [1 - 64]"); the part before it is
  // the name the command chose, and that is what says what the value is.
  value.type = option.get_type_name().substr(0, option.get_type_name().find(':'));
  const auto &lnames = option.get_lnames();
  bool lab_option = std::find(lnames.begin(), lnames.end(), "lab") != lnames.end();
  if (value.type.find('|') != std::string::npos) {
    value.kind = ValueKind::choice;
    value.choices = split(value.type, '|');
  } else if (value.type == "FILE") {
    value.kind = ValueKind::file;
  } else if (value.type == "PATH") {
    value.kind = ValueKind::path;
  } else if (value.type == "LAB" || (value.type == "NAME" && lab_option)) {
    value.kind = ValueKind::lab;
  } else if (value.type == "NODE") {
    value.kind = ValueKind::node;
  } else {
    value.kind = ValueKind::text;
  }
  return value;
}

OptionSpec option_spec(const CLI::Option &option) {
  OptionSpec spec;
  for (const auto &name : option.get_snames()) {
    spec.names.push_back("-" + name);
  }
  for (const auto &name : option.get_lnames()) {
    spec.names.push_back("--" + name);
  }
  spec.description = option.get_description();
  spec.value = classify(option);
  return spec;
}

bool hidden(const CLI::Option &option) {
  return option.get_group().empty();
}

Spec make_spec(const CLI::App &app) {
  Spec spec;
  spec.program = app.get_name();
  const CLI::Option *version = app.get_version_ptr();
  std::vector<OptionSpec> fallthrough; // globals that stay valid after the command
  for (const CLI::Option *option : app.get_options({})) {
    if (hidden(*option) || !option->nonpositional()) {
      continue;
    }
    spec.globals.push_back(option_spec(*option));
    if (option != version) {
      fallthrough.push_back(spec.globals.back());
    }
  }
  for (const CLI::App *sub : app.get_subcommands({})) {
    if (sub->get_group().empty()) {
      continue; // hidden, like `__complete`
    }
    CommandSpec command;
    command.name = sub->get_name();
    command.aliases = sub->get_aliases();
    command.description = sub->get_description();
    std::set<std::string> own;
    for (const CLI::Option *option : sub->get_options({})) {
      if (hidden(*option)) {
        continue;
      }
      if (option->nonpositional()) {
        command.options.push_back(option_spec(*option));
        own.insert(command.options.back().names.begin(), command.options.back().names.end());
      } else {
        PositionalSpec positional;
        positional.name = option->get_name(true);
        positional.value = classify(*option);
        positional.required = option->get_required();
        positional.repeats = option->get_items_expected_max() > 1;
        command.positionals.push_back(positional);
      }
    }
    // The command's own option of the same name (--help) wins over the global one.
    for (const auto &global : fallthrough) {
      bool shadowed = std::any_of(global.names.begin(), global.names.end(),
                                  [&own](const std::string &name) { return own.count(name) > 0; });
      if (!shadowed) {
        command.options.push_back(global);
      }
    }
    spec.commands.push_back(command);
  }
  return spec;
}

std::string join(const std::vector<std::string> &items, const std::string &separator) {
  std::string out;
  for (const auto &item : items) {
    out += (out.empty() ? "" : separator) + item;
  }
  return out;
}

/// Single-quoted for any POSIX-like shell (bash, zsh); fish needs its own.
std::string sh_quote(const std::string &text) {
  std::string out = "'";
  for (char c : text) {
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  }
  return out + "'";
}

std::string fish_quote(const std::string &text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out + "'";
}

/// The word a value kind is called by in the generated scripts.
std::string kind_word(const Value &value) {
  switch (value.kind) {
  case ValueKind::none:
    return "";
  case ValueKind::text:
    return "text";
  case ValueKind::file:
    return "file";
  case ValueKind::path:
    return "path";
  case ValueKind::lab:
    return "lab";
  case ValueKind::node:
    return "node";
  case ValueKind::choice:
    return "choice:" + join(value.choices, " ");
  }
  return "";
}

/// Shell function names may not carry every character a program name can.
std::string identifier(const std::string &name) {
  std::string out;
  for (char c : name) {
    out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  }
  return out;
}

std::vector<std::string> command_words(const Spec &spec) {
  std::vector<std::string> words;
  for (const auto &command : spec.commands) {
    words.push_back(command.name);
    words.insert(words.end(), command.aliases.begin(), command.aliases.end());
  }
  return words;
}

std::vector<std::string> option_words(const std::vector<OptionSpec> &options) {
  std::vector<std::string> words;
  for (const auto &option : options) {
    words.insert(words.end(), option.names.begin(), option.names.end());
  }
  return words;
}

/// The case pattern of a command and its aliases: "status|ps" (bash, zsh) or "status ps" (fish).
std::string command_pattern(const CommandSpec &command, const std::string &separator) {
  std::vector<std::string> names{command.name};
  names.insert(names.end(), command.aliases.begin(), command.aliases.end());
  return join(names, separator);
}

/// Index (from 0) of the LAB positional that names the lab of later NODE values, or -1.
int lab_positional(const CommandSpec &command) {
  for (std::size_t i = 0; i < command.positionals.size(); ++i) {
    if (command.positionals[i].value.kind == ValueKind::lab) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

std::string header(const std::string &program, const std::string &shell) {
  return fmt::format("# {} completion for {}\n"
                     "# generated by `{} completion {}`; do not edit.\n",
                     shell, program, program, shell);
}

// ---------------------------------------------------------------------------------------------
// bash

void bash_option_cases(std::string &out, const std::vector<OptionSpec> &options,
                       const std::string &indent) {
  for (const auto &option : options) {
    auto kind = kind_word(option.value);
    out += indent + join(option.names, "|") + ")";
    out +=
        kind.empty() ? " return 0 ;;\n" : fmt::format(" REPLY={}; return 0 ;;\n", sh_quote(kind));
  }
}

std::string bash_script(const Spec &spec) {
  const std::string f = "_" + identifier(spec.program);
  std::string out = header(spec.program, "bash");
  out += fmt::format(
      "# Load it with `source <({0} completion bash)`, or install it as "
      "/etc/bash_completion.d/{0}.\n"
      "# It needs only bash itself (COMP_WORDS, COMP_CWORD, compgen), not the bash-completion "
      "package.\n\n",
      spec.program);

  out += fmt::format("# {0}_names labs|nodes [LAB]: names recorded in the state file, which is the "
                     "one given\n"
                     "# with --state on the command line if there is one.\n"
                     "{0}_names() {{\n"
                     "  \"${{{0}_prog:-{1}}}\" ${{{0}_state:+--state \"${0}_state\"}} __complete "
                     "\"$@\" 2>/dev/null\n"
                     "}}\n\n",
                     f, spec.program);

  out += fmt::format("# {}_option COMMAND OPTION: sets REPLY to what OPTION takes (empty for a "
                     "flag, else a value\n"
                     "# kind); fails when COMMAND (empty before the command) has no such option.\n",
                     f);
  out += f + "_option() {\n  REPLY=\n  case $1 in\n";
  for (const auto &command : spec.commands) {
    out += "    " + command_pattern(command, "|") + ")\n      case $2 in\n";
    bash_option_cases(out, command.options, "        ");
    out += "      esac\n      return 1\n      ;;\n";
  }
  out += "  esac\n  case $2 in\n";
  bash_option_cases(out, spec.globals, "    ");
  out += "  esac\n  return 1\n}\n\n";

  out += fmt::format("# {}_options COMMAND: sets REPLY to the options offered after COMMAND (empty "
                     "before it).\n",
                     f);
  out += f + "_options() {\n  case $1 in\n";
  out += "    '') REPLY=" + sh_quote(join(option_words(spec.globals), " ")) + " ;;\n";
  for (const auto &command : spec.commands) {
    out += "    " + command_pattern(command, "|") +
           ") REPLY=" + sh_quote(join(option_words(command.options), " ")) + " ;;\n";
  }
  out += "    *) REPLY= ;;\n  esac\n}\n\n";

  out += fmt::format("# {}_positional COMMAND N: sets REPLY to the value kind of COMMAND's "
                     "positional argument N\n"
                     "# (from 0).\n",
                     f);
  out += f + "_positional() {\n  REPLY=\n  case $1 in\n";
  for (const auto &command : spec.commands) {
    if (command.positionals.empty()) {
      continue;
    }
    out += "    " + command_pattern(command, "|") + ")\n      case $2 in\n";
    for (std::size_t i = 0; i < command.positionals.size(); ++i) {
      const auto &positional = command.positionals[i];
      bool last = i + 1 == command.positionals.size();
      out += fmt::format("        {}) REPLY={} ;;\n",
                         positional.repeats && last ? "*" : std::to_string(i),
                         sh_quote(kind_word(positional.value)));
    }
    out += "      esac\n      ;;\n";
  }
  out += "  esac\n}\n\n";

  out += fmt::format(
      "# {0}_value KIND CURRENT: fills COMPREPLY with the values of KIND that start with CURRENT.\n"
      "{0}_value() {{\n"
      "  local cur=$2\n"
      "  case $1 in\n"
      "    file)\n"
      "      compopt -o filenames 2>/dev/null\n"
      "      mapfile -t COMPREPLY < <(compgen -d -- \"$cur\"; compgen -f -X '!*.yaml' -- "
      "\"$cur\"; compgen -f -X '!*.yml' -- \"$cur\")\n"
      "      ;;\n"
      "    path)\n"
      "      compopt -o filenames 2>/dev/null\n"
      "      mapfile -t COMPREPLY < <(compgen -f -- \"$cur\")\n"
      "      ;;\n"
      "    lab) mapfile -t COMPREPLY < <(compgen -W \"$({0}_names labs)\" -- \"$cur\") ;;\n"
      "    node) mapfile -t COMPREPLY < <(compgen -W \"$({0}_names nodes "
      "${{{0}_lab:+\"${0}_lab\"}})\" "
      "-- \"$cur\") ;;\n"
      "    choice:*) mapfile -t COMPREPLY < <(compgen -W \"${{1#choice:}}\" -- \"$cur\") ;;\n"
      "  esac\n"
      "}}\n\n",
      f);

  out += fmt::format(
      "# {0}_remember OPTION VALUE: keeps the values that change what later words complete to.\n"
      "{0}_remember() {{\n"
      "  case $1 in\n"
      "    --state) {0}_state=${{2/#\\~/$HOME}} ;;\n"
      "    --lab) {0}_lab=$2 ;;\n"
      "  esac\n"
      "}}\n\n",
      f);

  // The walk over the words before the cursor mirrors CLI11's parse: global options (and their
  // values) may come before the command, options may come anywhere after it, `--` ends options.
  out += fmt::format(
      "{0}() {{\n"
      "  local {0}_prog=${{COMP_WORDS[0]}} {0}_state= {0}_lab= cmd= word REPLY\n"
      "  local cur=${{COMP_WORDS[COMP_CWORD]}}\n"
      "  local -i i=1 j npos=0 dashdash=0\n"
      "  COMPREPLY=()\n"
      "  while ((i < COMP_CWORD)); do\n"
      "    word=${{COMP_WORDS[i]}}\n"
      "    if ((!dashdash)) && [[ $word == -- ]]; then\n"
      "      dashdash=1\n"
      "    elif ((!dashdash)) && [[ $word == -?*=* ]]; then\n"
      "      {0}_remember \"${{word%%=*}}\" \"${{word#*=}}\"\n"
      "    elif ((!dashdash)) && [[ $word == -?* ]]; then\n"
      "      if {0}_option \"$cmd\" \"$word\" && [[ -n $REPLY ]]; then\n"
      "        # The value is the next word, or the one after a lone '=' (COMP_WORDBREAKS splits "
      "there).\n"
      "        j=i+1\n"
      "        [[ ${{COMP_WORDS[j]}} == = ]] && j+=1\n"
      "        if ((j >= COMP_CWORD)); then\n"
      "          [[ $cur == = ]] && cur=\n"
      "          {0}_value \"$REPLY\" \"$cur\"\n"
      "          return 0\n"
      "        fi\n"
      "        {0}_remember \"$word\" \"${{COMP_WORDS[j]}}\"\n"
      "        i=j\n"
      "      fi\n"
      "    elif [[ -z $cmd ]]; then\n"
      "      cmd=$word\n",
      f);
  // Aliases resolve to their command so that the tables above need only one entry each.
  std::string aliases;
  for (const auto &command : spec.commands) {
    if (!command.aliases.empty()) {
      aliases += "        " + join(command.aliases, "|") + ") cmd=" + command.name + " ;;\n";
    }
  }
  if (!aliases.empty()) {
    out += "      case $word in\n" + aliases + "      esac\n";
  }
  out += fmt::format("    else\n"
                     "      {0}_positional \"$cmd\" \"$npos\"\n"
                     "      [[ $REPLY == lab ]] && {0}_lab=$word\n"
                     "      npos+=1\n"
                     "    fi\n"
                     "    i+=1\n"
                     "  done\n"
                     "  if ((!dashdash)) && [[ $cur == --*=* ]]; then\n"
                     "    if {0}_option \"$cmd\" \"${{cur%%=*}}\" && [[ -n $REPLY ]]; then\n"
                     "      {0}_value \"$REPLY\" \"${{cur#*=}}\"\n"
                     "      COMPREPLY=(\"${{COMPREPLY[@]/#/${{cur%%=*}}=}}\")\n"
                     "    fi\n"
                     "  elif ((!dashdash)) && [[ $cur == -* ]]; then\n"
                     "    {0}_options \"$cmd\"\n"
                     "    mapfile -t COMPREPLY < <(compgen -W \"$REPLY\" -- \"$cur\")\n"
                     "  elif [[ -z $cmd ]]; then\n"
                     "    mapfile -t COMPREPLY < <(compgen -W {2} -- \"$cur\")\n"
                     "  else\n"
                     "    {0}_positional \"$cmd\" \"$npos\"\n"
                     "    {0}_value \"$REPLY\" \"$cur\"\n"
                     "  fi\n"
                     "  return 0\n"
                     "}}\n\n"
                     "complete -F {0} {1}\n",
                     f, spec.program, sh_quote(join(command_words(spec), " ")));
  return out;
}

// ---------------------------------------------------------------------------------------------
// zsh

/// Text inside an _arguments `[description]` or a _describe entry: brackets and colons are syntax.
std::string zsh_text(const std::string &text) {
  std::string out;
  for (char c : text) {
    if (c == '\\' || c == '[' || c == ']' || c == ':') {
      out += '\\';
    }
    out += c;
  }
  return out;
}

std::string zsh_action(const std::string &f, const Value &value, const std::string &node_lab) {
  switch (value.kind) {
  case ValueKind::none:
  case ValueKind::text:
    return " ";
  case ValueKind::file:
    return "_files -g \"*.(yaml|yml)\"";
  case ValueKind::path:
    return "_files";
  // In braces: _arguments would otherwise put compadd options before the arguments.
  case ValueKind::lab:
    return "{" + f + "_names labs}";
  case ValueKind::node:
    return "{" + f + "_names nodes " + node_lab + "}";
  case ValueKind::choice:
    return "(" + join(value.choices, " ") + ")";
  }
  return " ";
}

void zsh_option_specs(std::string &out, const std::string &f,
                      const std::vector<OptionSpec> &options, const std::string &node_lab) {
  for (const auto &option : options) {
    std::string exclusive =
        option.names.size() > 1 ? "(" + join(option.names, " ") + ")" : std::string();
    for (const auto &name : option.names) {
      std::string spec = exclusive + name;
      if (option.value.kind != ValueKind::none) {
        // -j+ and --jobs= take the value in the same word or the next one.
        spec += name.rfind("--", 0) == 0 ? "=" : "+";
      }
      spec += "[" + zsh_text(option.description) + "]";
      if (option.value.kind != ValueKind::none) {
        spec += ":" + zsh_text(option.value.type) + ":" + zsh_action(f, option.value, node_lab);
      }
      out += "    " + sh_quote(spec) + " \\\n";
    }
  }
}

std::string zsh_script(const Spec &spec) {
  const std::string f = "_" + identifier(spec.program);
  std::string out = "#compdef " + spec.program + "\n" + header(spec.program, "zsh");
  out += fmt::format("# Install it as {0} in a directory of $fpath and run compinit, or load it "
                     "with\n"
                     "# `source <({1} completion zsh)` after compinit.\n\n",
                     f, spec.program);

  out += fmt::format("# {0}_names labs|nodes [LAB]: names recorded in the state file, which is the "
                     "one given\n"
                     "# with --state on the command line if there is one.\n"
                     "{0}_names() {{\n"
                     "  local -a names expl\n"
                     "  local state=${{opt_args[--state]/#\\~/$HOME}}\n"
                     "  state=${{state:-${0}_state}}\n"
                     "  names=(${{(f)\"$(${{{0}_prog:-{1}}} ${{state:+--state}} $state "
                     "__complete $@ 2>/dev/null)\"}})\n"
                     "  _wanted $1 expl ${{1%s}} compadd -a names\n"
                     "}}\n\n",
                     f, spec.program);

  out += f + "_commands() {\n  local -a commands\n  commands=(\n";
  for (const auto &command : spec.commands) {
    out += "    " + sh_quote(zsh_text(command.name) + ":" + command.description) + "\n";
    for (const auto &alias : command.aliases) {
      out += "    " +
             sh_quote(zsh_text(alias) + ":" + command.description + " (same as " + command.name +
                      ")") +
             "\n";
    }
  }
  out += "  )\n  _describe -t commands '" + spec.program + " command' commands\n}\n\n";

  for (const auto &command : spec.commands) {
    int lab_index = lab_positional(command);
    std::string node_lab = lab_index >= 0
                               ? fmt::format("${{opt_args[--lab]:-$line[{}]}}", lab_index + 1)
                               : std::string("${opt_args[--lab]}");
    out += f + "_" + identifier(command.name) + "() {\n  _arguments \\\n";
    zsh_option_specs(out, f, command.options, node_lab);
    for (std::size_t i = 0; i < command.positionals.size(); ++i) {
      const auto &positional = command.positionals[i];
      bool last = i + 1 == command.positionals.size();
      std::string spec = positional.repeats && last ? "*" : std::to_string(i + 1);
      spec += positional.required || (positional.repeats && last) ? ":" : "::";
      spec += zsh_text(positional.name) + ":" + zsh_action(f, positional.value, node_lab);
      out += "    " + sh_quote(spec) + " \\\n";
    }
    out.resize(out.size() - 3); // the last " \\\n"
    out += "\n}\n\n";
  }

  out += fmt::format("{0}() {{\n"
                     "  local curcontext=$curcontext state state_descr line {0}_prog=$words[1] "
                     "{0}_state\n"
                     "  typeset -A opt_args\n"
                     "  local -i ret=1\n\n"
                     "  _arguments -C \\\n",
                     f);
  zsh_option_specs(out, f, spec.globals, "${opt_args[--lab]}");
  // (-): once the command is there, options belong to the command's own _arguments call.
  out += fmt::format("    '(-)1:command:{0}_commands' \\\n"
                     "    '(-)*:: :->command' && ret=0\n\n"
                     "  case $state in\n"
                     "    command)\n"
                     "      {0}_state=${{opt_args[--state]/#\\~/$HOME}}\n"
                     "      curcontext=${{curcontext%:*:*}}:{1}-$words[1]:\n"
                     "      case $words[1] in\n",
                     f, spec.program);
  for (const auto &command : spec.commands) {
    out += fmt::format("        {}) {}_{} && ret=0 ;;\n", command_pattern(command, "|"), f,
                       identifier(command.name));
  }
  out += fmt::format("      esac\n"
                     "      ;;\n"
                     "  esac\n"
                     "  return ret\n"
                     "}}\n\n"
                     "if [[ $zsh_eval_context[-1] == loadautofunc ]]; then\n"
                     "  {0} \"$@\"\n"
                     "else\n"
                     "  compdef {0} {1}\n"
                     "fi\n",
                     f, spec.program);
  return out;
}

// ---------------------------------------------------------------------------------------------
// fish

std::string fish_option_line(const std::string &program, const std::string &f,
                             const std::string &condition, const OptionSpec &option) {
  std::string line = "complete -c " + program;
  if (!condition.empty()) {
    line += " -n " + fish_quote(condition);
  }
  for (const auto &name : option.names) {
    line += name.rfind("--", 0) == 0 ? " -l " + name.substr(2) : " -s " + name.substr(1);
  }
  switch (option.value.kind) {
  case ValueKind::none:
    break;
  case ValueKind::text:
    line += " -x";
    break;
  case ValueKind::file:
    line += " -x -k -a " + fish_quote("(" + f + "_files)");
    break;
  case ValueKind::path:
    line += " -r -F";
    break;
  case ValueKind::lab:
    line += " -x -a " + fish_quote("(" + f + "_names labs)");
    break;
  case ValueKind::node:
    line += " -x -a " + fish_quote("(" + f + "_names nodes (" + f + "_value_of --lab))");
    break;
  case ValueKind::choice:
    line += " -x -a " + fish_quote(join(option.value.choices, " "));
    break;
  }
  return line + " -d " + fish_quote(option.description) + "\n";
}

std::string fish_script(const Spec &spec) {
  const std::string f = "__" + identifier(spec.program);
  const std::string program = spec.program;
  auto all_commands = join(command_words(spec), " ");
  std::string out = header(program, "fish");
  out += fmt::format("# Install: {0} completion fish > ~/.config/fish/completions/{0}.fish\n\n",
                     program);

  out += fmt::format("# {0}_value_of OPTION: the last value given to OPTION on the command line, "
                     "if any.\n"
                     "function {0}_value_of --argument-names option\n"
                     "    set -l tokens (commandline -opc)\n"
                     "    set -l value\n"
                     "    for i in (seq 2 (count $tokens))\n"
                     "        if test \"x$tokens[$i]\" = \"x$option\"\n"
                     "            set -l next (math $i + 1)\n"
                     "            set -q tokens[$next]; and set value $tokens[$next]\n"
                     "        else if string match -q -- \"$option=*\" $tokens[$i]\n"
                     "            set value (string replace -- \"$option=\" '' $tokens[$i])\n"
                     "        end\n"
                     "    end\n"
                     "    set -q value[1]; and echo $value\n"
                     "end\n\n",
                     f);

  out += fmt::format("# {0}_names labs|nodes [LAB]: names recorded in the state file, which is the "
                     "one given\n"
                     "# with --state on the command line if there is one.\n"
                     "function {0}_names\n"
                     "    set -l program (commandline -opc)[1]\n"
                     "    set -l state ({0}_value_of --state)\n"
                     "    set -q state[1]; and set state --state $state\n"
                     "    command $program $state __complete $argv 2>/dev/null\n"
                     "end\n\n",
                     f);

  out += fmt::format("# {0}_files: topology files (*.yaml, *.yml) and directories.\n"
                     "function {0}_files\n"
                     "    complete -C \"__fish_command_without_completions \"(commandline -ct) | "
                     "string match -r -- '^[^\\t]*(?:/|\\.ya?ml)(?:\\t.*)?$'\n"
                     "end\n\n",
                     f);

  out += fmt::format("# {0}_takes_value COMMAND OPTION: whether OPTION reads the next word as its "
                     "value.\n"
                     "function {0}_takes_value --argument-names cmd option\n"
                     "    switch $cmd\n",
                     f);
  auto value_names = [](const std::vector<OptionSpec> &options) {
    std::vector<std::string> names;
    for (const auto &option : options) {
      if (option.value.kind != ValueKind::none) {
        names.insert(names.end(), option.names.begin(), option.names.end());
      }
    }
    return names;
  };
  for (const auto &command : spec.commands) {
    auto names = value_names(command.options);
    out += "        case " + command_pattern(command, " ") + "\n";
    out += names.empty() ? "            return 1\n"
                         : "            contains -- $option " + join(names, " ") + "\n" +
                               "            return\n";
  }
  out += "    end\n";
  auto global_names = value_names(spec.globals);
  out += global_names.empty() ? "    return 1\n"
                              : "    contains -- $option " + join(global_names, " ") + "\n";
  out += "end\n\n";

  // fish has no notion of "the Nth positional argument", so the walk over the words is spelled
  // out here the same way as in the bash script.
  out += fmt::format(
      "# {0}_arg_is KIND: whether the word being completed is a positional argument of KIND.\n"
      "function {0}_arg_is --argument-names kind\n"
      "    set -l tokens (commandline -opc)\n"
      "    set -e tokens[1]\n"
      "    set -l cmd\n"
      "    set -l n 0\n"
      "    set -l skip 0\n"
      "    set -l dashdash 0\n"
      "    for token in $tokens\n"
      "        if test $skip = 1\n"
      "            set skip 0\n"
      "        else if test $dashdash = 0; and test \"x$token\" = x--\n"
      "            set dashdash 1\n"
      "        else if test $dashdash = 0; and string match -qr -- '^-.' $token\n"
      "            if not string match -q -- '*=*' $token; and {0}_takes_value \"$cmd\" $token\n"
      "                set skip 1\n"
      "            end\n"
      "        else if test -z \"$cmd\"\n"
      "            set cmd $token\n"
      "        else\n"
      "            set n (math $n + 1)\n"
      "        end\n"
      "    end\n"
      "    if test $skip = 1; or test -z \"$cmd\"\n"
      "        return 1\n"
      "    end\n"
      "    if test $dashdash = 0; and string match -qr -- '^-' (commandline -ct)\n"
      "        return 1\n"
      "    end\n"
      "    set -l found\n"
      "    switch $cmd\n",
      f);
  for (const auto &command : spec.commands) {
    if (command.positionals.empty()) {
      continue;
    }
    out += "        case " + command_pattern(command, " ") + "\n";
    out += "            switch $n\n";
    for (std::size_t i = 0; i < command.positionals.size(); ++i) {
      const auto &positional = command.positionals[i];
      bool last = i + 1 == command.positionals.size();
      out += fmt::format("                case {}\n"
                         "                    set found {}\n",
                         positional.repeats && last ? "'*'" : std::to_string(i),
                         fish_quote(kind_word(positional.value)));
    }
    out += "            end\n";
  }
  out += "    end\n"
         "    test \"x$found\" = \"x$kind\"\n"
         "end\n\n";

  out += "# Nothing completes to file names unless it takes a file.\n";
  out += "complete -c " + program + " -f\n\n";

  out += "# Commands\n";
  const std::string no_command = "not __fish_seen_subcommand_from " + all_commands;
  for (const auto &command : spec.commands) {
    out += "complete -c " + program + " -n " + fish_quote(no_command) + " -a " +
           fish_quote(command.name) + " -d " + fish_quote(command.description) + "\n";
    for (const auto &alias : command.aliases) {
      out += "complete -c " + program + " -n " + fish_quote(no_command) + " -a " +
             fish_quote(alias) + " -d " +
             fish_quote(command.description + " (same as " + command.name + ")") + "\n";
    }
  }

  out += "\n# Global options\n";
  for (const auto &global : spec.globals) {
    // Valid only before the command when a command has its own (like --help), or when it is not
    // accepted after the command at all (--version).
    std::vector<std::string> not_after;
    for (const auto &command : spec.commands) {
      bool accepted = std::any_of(
          command.options.begin(), command.options.end(), [&global](const OptionSpec &option) {
            return option.names == global.names && option.description == global.description;
          });
      if (!accepted) {
        not_after.push_back(command_pattern(command, " "));
      }
    }
    std::string condition =
        not_after.empty() ? "" : "not __fish_seen_subcommand_from " + join(not_after, " ");
    out += fish_option_line(program, f, condition, global);
  }

  // Positional values, one line per kind in first-seen order.
  std::vector<std::string> kinds;
  std::vector<Value> kind_values;
  for (const auto &command : spec.commands) {
    for (const auto &positional : command.positionals) {
      auto kind = kind_word(positional.value);
      if (positional.value.kind == ValueKind::text || positional.value.kind == ValueKind::none ||
          std::find(kinds.begin(), kinds.end(), kind) != kinds.end()) {
        continue;
      }
      kinds.push_back(kind);
      kind_values.push_back(positional.value);
    }
  }

  for (const auto &command : spec.commands) {
    std::string condition = "__fish_seen_subcommand_from " + command_pattern(command, " ");
    std::string lines;
    for (const auto &option : command.options) {
      bool global =
          std::any_of(spec.globals.begin(), spec.globals.end(), [&option](const OptionSpec &g) {
            return g.names == option.names && g.description == option.description;
          });
      if (!global) {
        lines += fish_option_line(program, f, condition, option);
      }
    }
    if (!lines.empty()) {
      out += "\n# " + program + " " + command.name + "\n" + lines;
    }
  }

  out += "\n# Positional arguments\n";
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    std::string condition = f + "_arg_is \"" + kinds[i] + "\"";
    std::string line = "complete -c " + program + " -n " + fish_quote(condition);
    switch (kind_values[i].kind) {
    case ValueKind::file:
      line += " -k -a " + fish_quote("(" + f + "_files)");
      break;
    case ValueKind::path:
      line += " -F";
      break;
    case ValueKind::lab:
      line += " -a " + fish_quote("(" + f + "_names labs)");
      break;
    case ValueKind::node:
      line += " -a " + fish_quote("(" + f + "_names nodes (" + f + "_value_of --lab))");
      break;
    case ValueKind::choice:
      line += " -a " + fish_quote(join(kind_values[i].choices, " "));
      break;
    case ValueKind::none:
    case ValueKind::text:
      break;
    }
    out += line + "\n";
  }
  return out;
}

} // namespace

std::string completion_script(const CLI::App &app, const std::string &shell) {
  auto spec = make_spec(app);
  if (shell == "bash") {
    return bash_script(spec);
  }
  if (shell == "zsh") {
    return zsh_script(spec);
  }
  if (shell == "fish") {
    return fish_script(spec);
  }
  return {};
}

} // namespace ltb::cli
