// ltb link list [LAB] [--format table|json]
// ltb link set LINK|NODE:IFACE [--lab LAB] [--delay D] [--jitter D] [--loss P] [--corrupt P]
//              [--duplicate P] [--reorder P] [--rate R] [--reset]
// ltb link down|up LINK|NODE:IFACE [--lab LAB]
#include "cli/context.hpp"
#include "cli/table.hpp"
#include "service/links.hpp"

#include <fmt/format.h>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>
#include <vector>

namespace ltb::cli {

namespace {

struct LinkOptions {
  std::string lab;
  std::string target;
  std::string format = "table";
  std::map<std::string, std::string> values; // --delay 50ms -> {"delay", "50ms"}
  bool reset = false;
};

nlohmann::json end_json(const service::LinkEndInfo &end) {
  return {{"node", end.node},
          {"interface", end.iface},
          {"impairments", end.impairments},
          {"source", end.source}};
}

nlohmann::json link_json(const service::LinkInfo &link) {
  return {{"lab", link.lab}, {"name", link.name},     {"state", link.state},
          {"via", link.via}, {"a", end_json(link.a)}, {"b", end_json(link.b)}};
}

std::string source_text(const service::LinkEndInfo &end) {
  return end.source.empty() ? std::string("-") : end.source;
}

/// One row per direction: the packets leaving each end.
std::vector<std::vector<std::string>> rows_of(const service::LinkInfo &link) {
  return {{link.name,
           fmt::format("{}:{} -> {}:{}", link.a.node, link.a.iface, link.b.node, link.b.iface),
           link.state, link.a.impairments, source_text(link.a)},
          {"", fmt::format("{}:{} -> {}:{}", link.b.node, link.b.iface, link.a.node, link.a.iface),
           "", link.b.impairments, source_text(link.b)}};
}

void print_links(const std::vector<service::LinkInfo> &links, bool json) {
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto &link : links) {
      out.push_back(link_json(link));
    }
    fmt::print("{}\n", nlohmann::json{{"links", out}}.dump(2));
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto &link : links) {
    auto more = rows_of(link);
    rows.insert(rows.end(), more.begin(), more.end());
  }
  fmt::print("{}", format_table({"LINK", "DIRECTION", "STATE", "IMPAIRMENTS", "FROM"}, rows));
}

int run_list(const Globals &globals, const LinkOptions &options) {
  PrintSink events(globals);
  const service::Session session{service_context(globals), caller(), interrupt_token(), events};
  auto links = service::list_links(session, {options.lab});
  if (!links) {
    return report(globals, links.error());
  }
  print_links(*links, json_format(options.format));
  return 0;
}

int run_set(const Globals &globals, const LinkOptions &options) {
  PrintSink events(globals);
  const service::Session session{service_context(globals), caller(), interrupt_token(), events};
  auto link =
      service::set_link(session, {options.lab, options.target, options.values, options.reset});
  if (!link) {
    return report(globals, link.error());
  }
  if (!globals.quiet) {
    print_links(std::vector<service::LinkInfo>{*link}, false);
  }
  return 0;
}

int run_state(const Globals &globals, const LinkOptions &options, bool up) {
  PrintSink events(globals);
  const service::Session session{service_context(globals), caller(), interrupt_token(), events};
  auto link = service::set_link_state(session, {options.lab, options.target, up});
  if (!link) {
    return report(globals, link.error());
  }
  if (!globals.quiet) {
    fmt::print("link {} is {}\n", link->name, link->state);
  }
  return 0;
}

void add_target(CLI::App *sub, LinkOptions &options) {
  sub->add_option("target", options.target,
                  "A link's name (r1-r2, see `ltb link list`) or NODE:IFACE of one of its ends")
      ->required()
      ->type_name("LINK");
  sub->add_option("--lab", options.lab,
                  "Lab of the link (needed when several of your labs could have it)")
      ->type_name("LAB");
}

} // namespace

void add_link(CLI::App &app, Globals &globals, Registry &registry) {
  auto *link = app.add_subcommand("link", "List links, change their impairments, pull a cable");
  link->require_subcommand(1);

  auto list = std::make_shared<LinkOptions>();
  auto *list_sub = link->add_subcommand(
      "list", "Show a lab's links: their ends, state and impairments per direction");
  list_sub->add_option("lab", list->lab, "Lab name (default: your only lab)")->type_name("LAB");
  add_format_option(list_sub, list->format);
  list_sub->footer("FROM says where a direction's impairments come from: the file, or `ltb link "
                   "set` (run time), which `ltb up` keeps unless the file sets that direction's "
                   "impairments.");
  registry.push_back({list_sub, [&globals, list] { return run_list(globals, *list); }});

  auto set = std::make_shared<LinkOptions>();
  auto *set_sub = link->add_subcommand(
      "set", "Change a link's impairments (both directions), or one end's (NODE:IFACE: the "
             "packets leaving it)");
  add_target(set_sub, *set);
  const std::vector<std::tuple<std::string, std::string, std::string>> fields{
      {"delay", "DURATION", "Delay added to every packet: 50ms, 1s, 250us"},
      {"jitter", "DURATION", "The delay varies by up to this much either way (needs a delay)"},
      {"loss", "PERCENT", "Packets dropped at random: 2%, 0.5%"},
      {"corrupt", "PERCENT", "Packets with one random bit flipped"},
      {"duplicate", "PERCENT", "Packets sent twice"},
      {"reorder", "PERCENT", "Packets sent at once, ahead of the delayed ones (needs a delay)"},
      {"rate", "RATE", "Bandwidth limit: 10mbit, 1gbit, 500kbit"},
  };
  for (const auto &[name, type, help] : fields) {
    set_sub
        ->add_option_function<std::string>(
            "--" + name,
            [set, field = name](const std::string &value) { set->values[field] = value; },
            help + " (0: none)")
        ->type_name(type);
  }
  set_sub->add_flag("--reset", set->reset,
                    "Drop the run-time changes first: back to the file's impairments");
  set_sub->footer(
      "Examples:\n  ltb link set r1-r2 --delay 50ms --loss 2%\n"
      "  ltb link set r1:eth1 --rate 10mbit\n  ltb link set r1-r2 --reset\n"
      "Fields not given keep their value. The change is recorded: `ltb up` keeps it unless the "
      "file sets impairments for that direction (then the file wins).");
  registry.push_back({set_sub, [&globals, set] { return run_set(globals, *set); }});

  for (const bool up : {false, true}) {
    auto options = std::make_shared<LinkOptions>();
    auto *sub = link->add_subcommand(
        up ? "up" : "down",
        up ? "Plug a pulled cable back in: both ends get their carrier again"
           : "Pull a link's cable: both ends lose their carrier (NO-CARRIER) until `ltb link up`");
    add_target(sub, *options);
    sub->footer(up ? "Example:\n  ltb link up r1-r2"
                   : "Example:\n  ltb link down r1-r2\nRecorded: `ltb up` leaves the link down.");
    registry.push_back({sub, [&globals, options, up] { return run_state(globals, *options, up); }});
  }
}

} // namespace ltb::cli
