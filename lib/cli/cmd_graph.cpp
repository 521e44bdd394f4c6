// ltb graph FILE|LAB [--lab NAME] [--format dot|mermaid|json|html] [-o FILE]
#include "cli/context.hpp"
#include "graph/graph.hpp"
#include "service/graph.hpp"
#include "topology/loader.hpp"

#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <unistd.h>

namespace ltb::cli {

namespace {

namespace fs = std::filesystem;

struct GraphOptions {
  std::string target;
  std::string lab;
  std::string format; // "" = from -o's extension, else dot
  std::string output; // "" = stdout
};

/// The format an output file's extension implies; "" when it implies none.
std::string format_of_extension(const std::string &path) {
  const auto extension = fs::path(path).extension().string();
  if (extension == ".dot" || extension == ".gv") {
    return "dot";
  }
  if (extension == ".mmd" || extension == ".mermaid") {
    return "mermaid";
  }
  if (extension == ".json") {
    return "json";
  }
  if (extension == ".html" || extension == ".htm") {
    return "html";
  }
  return {};
}

/// A target that names a file (or looks like one) is drawn as a file; else as a recorded lab.
bool looks_like_file(const std::string &target) {
  std::error_code ec;
  if (fs::exists(target, ec)) {
    return true;
  }
  const auto extension = fs::path(target).extension().string();
  return target.find('/') != std::string::npos || extension == ".yaml" || extension == ".yml";
}

/// Writes TEXT to PATH through a temporary file beside it, so a reader never sees half of it.
Status write_file(const std::string &path, const std::string &text) {
  const std::string temporary = fmt::format("{}.tmp.{}", path, ::getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) {
      std::error_code ec;
      fs::remove(temporary, ec);
      return fail(fmt::format("cannot write {}", path),
                  "check that its directory exists and is writable");
    }
  }
  std::error_code ec;
  fs::rename(temporary, path, ec);
  if (ec) {
    fs::remove(temporary, ec);
    return fail(fmt::format("cannot write {}: {}", path, ec.message()),
                "check that its directory exists and is writable");
  }
  return {};
}

int run_graph(const Globals &globals, const GraphOptions &options) {
  PrintSink events(globals);
  const service::Session session{service_context(globals), caller(), interrupt_token(), events};
  std::string format = options.format;
  if (format.empty()) {
    format = options.output.empty() ? "" : format_of_extension(options.output);
    format = format.empty() ? "dot" : format;
  }
  Result<graph::Graph> drawn = fail("nothing drawn");
  if (looks_like_file(options.target)) {
    std::error_code ec;
    if (!fs::exists(options.target, ec)) {
      return report(globals, Error{fmt::format("no file {}", options.target),
                                   "give a lab file, or the name of a lab `ltb status` lists",
                                   ExitCode::usage});
    }
    topology::Diagnostics warnings;
    auto loaded = topology::load_file(options.target, {options.lab, &warnings});
    if (!loaded) {
      print_diagnostics(globals, loaded.error());
      return static_cast<int>(ExitCode::usage);
    }
    if (!warnings.items.empty() && !globals.quiet) {
      print_diagnostics(globals, warnings);
    }
    drawn = service::graph_of_file(session, *loaded);
  } else {
    if (!options.lab.empty() && options.lab != options.target) {
      return report(globals,
                    Error{"--lab names the lab of a file; a lab is drawn by its name alone",
                          fmt::format("run `ltb graph {}`", options.lab), ExitCode::usage});
    }
    drawn = service::graph_of_lab(session, options.target);
  }
  if (!drawn) {
    return report(globals, drawn.error());
  }
  const std::string text = graph::render(*drawn, format);
  if (options.output.empty() || options.output == "-") {
    fmt::print("{}", text);
    return 0;
  }
  if (auto written = write_file(options.output, text); !written) {
    return report(globals, written.error());
  }
  if (!globals.quiet) {
    fmt::print(stderr, "wrote {} ({} of lab {}: {} nodes, {} links{})\n", options.output, format,
               drawn->lab, drawn->nodes.size(), drawn->links.size(),
               drawn->live ? ", live state" : "");
  }
  return 0;
}

} // namespace

void add_graph(CLI::App &app, Globals &globals, Registry &registry) {
  auto options = std::make_shared<GraphOptions>();
  auto *sub = app.add_subcommand(
      "graph",
      "Draw a lab file or a deployed lab: dot, Mermaid, JSON or a self-contained HTML page");
  sub->add_option("target", options->target, "A lab file, or the name of a deployed lab")
      ->required()
      ->type_name("FILE");
  sub->add_option("--lab", options->lab, "With a FILE: the lab's name, as given to `ltb up --lab`")
      ->type_name("NAME");
  sub->add_option("--format", options->format,
                  "Output format (default: from -o's extension, else dot)")
      ->check(CLI::IsMember(graph::formats()))
      ->type_name("dot|mermaid|json|html");
  sub->add_option("-o,--output", options->output, "Write to this file instead of stdout")
      ->type_name("PATH");
  sub->footer("Examples:\n  ltb graph examples/frr-ospf.yaml | dot -Tsvg > lab.svg\n"
              "  ltb graph frr-ospf -o lab.html\n  ltb graph frr-ospf --format mermaid\n"
              "A deployed lab's nodes and links show their live state (running, stopped, "
              "missing; up, down).");
  registry.push_back({sub, [&globals, options] { return run_graph(globals, *options); }});
}

} // namespace ltb::cli
