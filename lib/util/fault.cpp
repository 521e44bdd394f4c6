#include "util/fault.hpp"

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <map>
#include <mutex>
#include <string>
#include <unistd.h>

namespace ltb::util::fault {

namespace {

struct Config {
  bool on = false;
  std::string kill_site; // empty: kill nowhere
  long kill_at = 0;
  std::string stop_site; // empty: stop nowhere
  long stop_at = 0;
  int trace_fd = -1;
  std::mutex mutex; // counts and the trace, from any worker thread
  std::map<std::string, long, std::less<>> counts;
};

Config &config() {
  static Config *c = [] {
    auto *c = new Config; // never destroyed: points may be reached during exit
    // SITE:N from the variable NAME, if set and well formed.
    auto read = [](const char *name, std::string &site, long &at) {
      const char *value = std::getenv(name);
      if (!value || !*value) {
        return;
      }
      std::string text(value);
      if (auto colon = text.rfind(':'); colon != std::string::npos) {
        site = text.substr(0, colon);
        at = std::strtol(text.c_str() + colon + 1, nullptr, 10);
      }
    };
    read("LTB_FAULT_KILL", c->kill_site, c->kill_at);
    read("LTB_FAULT_STOP", c->stop_site, c->stop_at);
    c->on = c->kill_at > 0 || c->stop_at > 0;
    if (const char *trace = std::getenv("LTB_FAULT_TRACE"); trace && *trace) {
      c->trace_fd = ::open(trace, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
      c->on = c->on || c->trace_fd >= 0;
    }
    return c;
  }();
  return *c;
}

} // namespace

void point(std::string_view site) {
  auto &c = config();
  if (!c.on) {
    return;
  }
  std::lock_guard lock(c.mutex);
  auto it = c.counts.find(site);
  if (it == c.counts.end()) {
    it = c.counts.emplace(std::string(site), 0).first;
  }
  const long n = ++it->second;
  const long any = ++c.counts["any"];
  if (c.trace_fd >= 0) {
    // One write per line, O_APPEND: lines of concurrent processes do not interleave.
    std::string line = std::string(site) + " " + std::to_string(n) + "\n";
    [[maybe_unused]] auto written = ::write(c.trace_fd, line.data(), line.size());
  }
  auto at = [&](const std::string &want, long want_n) {
    return (want == site && n == want_n) || (want == "any" && any == want_n);
  };
  if (at(c.kill_site, c.kill_at)) {
    ::kill(::getpid(), SIGKILL);
    ::pause(); // SIGKILL is delivered before kill() returns to a single-threaded caller; others
               // wait
  }
  if (at(c.stop_site, c.stop_at)) {
    ::kill(::getpid(), SIGSTOP); // every thread stops until SIGCONT; then the work goes on
  }
}

} // namespace ltb::util::fault
