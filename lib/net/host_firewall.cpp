#include "net/host_firewall.hpp"

#include "util/exec.hpp"
#include "util/shell_split.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <sstream>
#include <sys/file.h>
#include <unistd.h>

namespace ltb::net {

namespace {

constexpr const char *k_comment_prefix = "ltb:";
constexpr const char *k_dhcp_suffix = ":dhcp";

const char *tool(IpFamily family) {
  return family == IpFamily::v4 ? "iptables" : "ip6tables";
}

/// The word after `flag` in a rule's words; "" when there is none.
std::string word_after(const std::vector<std::string> &words, const std::string &flag) {
  auto it = std::find(words.begin(), words.end(), flag);
  return it == words.end() || it + 1 == words.end() ? std::string() : *(it + 1);
}

/// Whether a rule's comment is one of LAB's: "ltb:LAB" or "ltb:LAB:...".
bool is_lab_comment(const std::string &comment, const std::string &lab) {
  const std::string tag = k_comment_prefix + lab;
  return comment == tag || comment.rfind(tag + ":", 0) == 0;
}

/// A word of iptables-restore input: quoted when it holds a space or a quote.
std::string restore_word(const std::string &word) {
  if (word.find_first_of(" \t\"'\\") == std::string::npos && !word.empty()) {
    return word;
  }
  std::string out = "\"";
  for (char c : word) {
    if (c == '"' || c == '\\') {
      out += '\\';
    }
    out += c;
  }
  return out + "\"";
}

std::string restore_line(const std::string &command, const std::vector<std::string> &words) {
  std::string line = command;
  for (const auto &word : words) {
    line += " " + restore_word(word);
  }
  return line + "\n";
}

} // namespace

std::string host_firewall_comment(const HostFirewallSpec &spec) {
  return k_comment_prefix + spec.lab + (spec.dhcp ? k_dhcp_suffix : "");
}

std::vector<std::vector<std::string>> host_firewall_rules(const HostFirewallSpec &spec,
                                                          IpFamily family) {
  const std::vector<std::string> in{"-i", spec.interface};
  const std::vector<std::string> tag{"-m", "comment", "--comment", host_firewall_comment(spec)};
  auto rule = [&](std::vector<std::string> match, std::vector<std::string> target) {
    std::vector<std::string> words = in;
    words.insert(words.end(), match.begin(), match.end());
    words.insert(words.end(), tag.begin(), tag.end());
    words.insert(words.end(), target.begin(), target.end());
    return words;
  };
  const bool v6 = family == IpFamily::v6;
  std::vector<std::vector<std::string>> rules;
  // Replies to what the host started: ltb ssh, exec and capture, pings from the host.
  rules.push_back(rule({"-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED"}, {"-j", "ACCEPT"}));
  if (v6) {
    // Neighbour discovery is not tracked: without it the host's own IPv6 link-local
    // conversations with the nodes would get no answer. It opens no service.
    for (const char *type : {"neighbour-solicitation", "neighbour-advertisement"}) {
      rules.push_back(
          rule({"-p", "ipv6-icmp", "-m", "icmp6", "--icmpv6-type", type}, {"-j", "ACCEPT"}));
    }
  }
  if (spec.dhcp && !v6) {
    // The VMs' DHCP requests to ltb's dnsmasq on this bridge (it serves no DNS: --port=0).
    rules.push_back(rule({"-p", "udp", "-m", "udp", "--dport", "67"}, {"-j", "ACCEPT"}));
  }
  // Refused, not dropped: a student's `nc` fails at once instead of hanging.
  rules.push_back(rule({"-p", "tcp"}, {"-j", "REJECT", "--reject-with", "tcp-reset"}));
  rules.push_back(rule({}, {"-j", "REJECT", "--reject-with",
                            v6 ? "icmp6-adm-prohibited" : "icmp-admin-prohibited"}));
  // A node could route to the host's addresses over a data link whose host end is a plain
  // interface (the relay's), with its management address as the source: the answers would come
  // back over the management bridge. Nothing of the host's own is reached that way.
  for (const auto &pattern : spec.links) {
    rules.push_back(
        {"-i", pattern, "-m", "comment", "--comment", host_firewall_comment(spec), "-j", "DROP"});
  }
  return rules;
}

FirewallListing parse_firewall_listing(const std::string &listing, const std::string &lab) {
  FirewallListing out;
  out.lab = lab;
  std::istringstream lines(listing);
  std::string line;
  while (std::getline(lines, line)) {
    auto words = util::shell_split(line);
    if (!words || words->size() < 2) {
      continue;
    }
    const auto &command = (*words)[0];
    const auto &chain = (*words)[1];
    if (command == "-N" && chain == k_firewall_chain) {
      out.chain = true;
    } else if (command == "-A" && chain == "INPUT" && words->size() == 4 && (*words)[2] == "-j" &&
               (*words)[3] == k_firewall_chain) {
      ++out.jumps;
    } else if (command == "-A" && chain == k_firewall_chain) {
      std::vector<std::string> rule(words->begin() + 2, words->end());
      auto comment = word_after(rule, "--comment");
      if (is_lab_comment(comment, lab)) {
        out.comments.push_back(comment);
        out.lab_rules.push_back(std::move(rule));
      } else {
        ++out.other_rules;
      }
    }
  }
  return out;
}

std::string host_firewall_restore(const FirewallListing &listing, const HostFirewallSpec &spec,
                                  IpFamily family, bool remove) {
  std::string body;
  if (!remove && !listing.chain) {
    body += fmt::format("-N {}\n", k_firewall_chain);
  }
  if (!remove && listing.jumps == 0) {
    // First in INPUT: an ACCEPT that another tool put there must not let the lab through.
    body += fmt::format("-I INPUT 1 -j {}\n", k_firewall_chain);
  }
  for (const auto &rule : listing.lab_rules) {
    body += restore_line(fmt::format("-D {}", k_firewall_chain), rule);
  }
  if (!remove) {
    for (const auto &rule : host_firewall_rules(spec, family)) {
      body += restore_line(fmt::format("-A {}", k_firewall_chain), rule);
    }
  } else if (listing.chain && listing.other_rules == 0) {
    for (std::size_t i = 0; i < listing.jumps; ++i) {
      body += fmt::format("-D INPUT -j {}\n", k_firewall_chain);
    }
    body += fmt::format("-X {}\n", k_firewall_chain);
  }
  return body.empty() ? std::string() : "*filter\n" + body + "COMMIT\n";
}

HostFirewallState host_firewall_state(const FirewallListing &v4, const FirewallListing &v6) {
  HostFirewallState state;
  state.present = !v4.lab_rules.empty() || !v6.lab_rules.empty();
  if (!state.present) {
    return state;
  }
  const auto &first = v4.lab_rules.empty() ? v6 : v4;
  state.spec.lab = v4.lab;
  state.spec.interface = word_after(first.lab_rules.front(), "-i");
  for (const auto &rule : first.lab_rules) {
    auto in = word_after(rule, "-i");
    if (in != state.spec.interface &&
        std::find(state.spec.links.begin(), state.spec.links.end(), in) == state.spec.links.end()) {
      state.spec.links.push_back(in);
    }
  }
  const auto comment = first.comments.front();
  state.spec.dhcp = comment.size() > std::strlen(k_dhcp_suffix) &&
                    comment.compare(comment.size() - std::strlen(k_dhcp_suffix), std::string::npos,
                                    k_dhcp_suffix) == 0;
  const auto expected = host_firewall_comment(state.spec);
  auto whole = [&](const FirewallListing &listing, IpFamily family) {
    if (!listing.chain || listing.jumps == 0 ||
        listing.lab_rules.size() != host_firewall_rules(state.spec, family).size()) {
      return false;
    }
    // Rule for rule as ltb makes them, but for the words iptables adds (-m udp) or reorders.
    const auto rules = host_firewall_rules(state.spec, family);
    for (std::size_t i = 0; i < listing.lab_rules.size(); ++i) {
      if (listing.comments[i] != expected ||
          word_after(listing.lab_rules[i], "-i") != word_after(rules[i], "-i") ||
          word_after(listing.lab_rules[i], "-j") != word_after(rules[i], "-j")) {
        return false;
      }
    }
    return true;
  };
  state.complete = whole(v4, IpFamily::v4) && whole(v6, IpFamily::v6);
  return state;
}

namespace {

/// The host-wide lock of ltb's changes to the firewall: a listing and the transaction made from
/// it must not interleave with another ltb's.
class FirewallLock {
public:
  FirewallLock() {
    std::error_code ec;
    const char *path = std::filesystem::is_directory("/run/lock", ec)
                           ? "/run/lock/ltb-firewall.lock"
                           : "/run/ltb-firewall.lock";
    m_fd = ::open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (m_fd >= 0) {
      while (::flock(m_fd, LOCK_EX) != 0 && errno == EINTR) {
      }
    }
  }
  ~FirewallLock() {
    if (m_fd >= 0) {
      ::close(m_fd);
    }
  }
  FirewallLock(const FirewallLock &) = delete;
  FirewallLock &operator=(const FirewallLock &) = delete;

private:
  int m_fd = -1;
};

std::string first_line(const std::string &text) {
  auto line = text.substr(0, text.find('\n'));
  return line.empty() ? "no message" : line;
}

class Iptables final : public HostFirewall {
public:
  Result<HostFirewallState> state(const std::string &lab) override {
    LTB_TRY(v4, list(IpFamily::v4, lab));
    LTB_TRY(v6, list(IpFamily::v6, lab));
    return host_firewall_state(v4, v6);
  }

  Status apply(const HostFirewallSpec &spec) override {
    FirewallLock lock;
    for (auto family : {IpFamily::v4, IpFamily::v6}) {
      auto done = change(family, spec, false);
      if (!done) {
        // Nothing half-made: the other family's rules go too (each transaction is whole).
        (void)change(IpFamily::v4, spec, true);
        (void)change(IpFamily::v6, spec, true);
        return fail(fmt::format("host firewall of lab {}: {}", spec.lab, done.error().message),
                    done.error().help);
      }
    }
    return {};
  }

  Status remove(const std::string &lab) override {
    FirewallLock lock;
    HostFirewallSpec spec{lab, "", false};
    Status result;
    for (auto family : {IpFamily::v4, IpFamily::v6}) {
      auto done = change(family, spec, true);
      if (!done && result) {
        result = fail(fmt::format("host firewall of lab {}: {}", lab, done.error().message),
                      done.error().help);
      }
    }
    return result;
  }

  Status allow_bridge(const std::string &lab, const std::string &bridge) override {
    FirewallLock lock;
    for (auto family : {IpFamily::v4, IpFamily::v6}) {
      for (const auto &rule : bridge_rules(lab, bridge)) {
        LTB_TRY(present, has_rule(family, rule));
        if (present) {
          continue;
        }
        auto added = edit_rule(family, "-I", rule);
        if (!added && family == IpFamily::v6) {
          break; // a host without IPv6 filtering forwards no IPv6 to refuse either
        }
        LTB_CHECK(added);
      }
    }
    return {};
  }

  Status forget_bridge(const std::string &lab, const std::string &bridge) override {
    FirewallLock lock;
    for (auto family : {IpFamily::v4, IpFamily::v6}) {
      for (const auto &rule : bridge_rules(lab, bridge)) {
        // Several copies (two runs that raced) all go.
        for (int i = 0; i < 8; ++i) {
          auto present = has_rule(family, rule);
          if (!present || !*present) {
            break;
          }
          LTB_CHECK(edit_rule(family, "-D", rule));
        }
      }
    }
    return {};
  }

private:
  static std::vector<std::vector<std::string>> bridge_rules(const std::string &lab,
                                                            const std::string &bridge) {
    const std::string comment = fmt::format("{}{}:bridge:{}", k_comment_prefix, lab, bridge);
    std::vector<std::vector<std::string>> rules;
    for (const char *direction : {"-i", "-o"}) {
      rules.push_back(
          {"FORWARD", direction, bridge, "-m", "comment", "--comment", comment, "-j", "ACCEPT"});
    }
    return rules;
  }

  static Result<bool> has_rule(IpFamily family, const std::vector<std::string> &rule) {
    std::vector<std::string> argv{tool(family), "-w", "-C"};
    argv.insert(argv.end(), rule.begin(), rule.end());
    LTB_TRY(result, util::run(argv, {std::chrono::seconds(20), {}}));
    return result.exit_code == 0;
  }

  static Status edit_rule(IpFamily family, const char *how, const std::vector<std::string> &rule) {
    std::vector<std::string> argv{tool(family), "-w", how};
    argv.insert(argv.end(), rule.begin(), rule.end());
    LTB_TRY(result, util::run(argv, {std::chrono::seconds(20), {}}));
    if (result.exit_code != 0) {
      return fail(fmt::format("`{} {} FORWARD` for bridge {} failed: {}", tool(family), how,
                              rule[2], first_line(result.err)),
                  "bridge nodes need ltb to run as root with iptables");
    }
    return {};
  }

  static Result<FirewallListing> list(IpFamily family, const std::string &lab) {
    LTB_TRY(result, util::run({tool(family), "-w", "-S"}, {std::chrono::seconds(20), {}}));
    if (result.exit_code != 0) {
      return fail(fmt::format("`{} -S` failed: {}", tool(family), first_line(result.err)),
                  "confined labs need ltb to run as root with iptables and ip6tables");
    }
    return parse_firewall_listing(result.out, lab);
  }

  static Status change(IpFamily family, const HostFirewallSpec &spec, bool remove) {
    LTB_TRY(listing, list(family, spec.lab));
    auto text = host_firewall_restore(listing, spec, family, remove);
    if (text.empty()) {
      return {};
    }
    const std::string restore = std::string(tool(family)) + "-restore";
    LTB_TRY(result,
            util::run({restore, "-w", "--noflush"}, {std::chrono::seconds(20), std::move(text)}));
    if (result.exit_code != 0) {
      return fail(fmt::format("`{} --noflush` failed: {}", restore, first_line(result.err)),
                  "check that the kernel has the conntrack, comment and REJECT matches "
                  "(nf_tables or x_tables) and that ltb runs as root");
    }
    return {};
  }
};

} // namespace

HostFirewall &host_firewall() {
  static Iptables firewall;
  return firewall;
}

} // namespace ltb::net
