#include "capture/records.hpp"

#include <algorithm>
#include <charconv>
#include <fmt/format.h>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>

namespace ltb::capture {

namespace {

bool is_capture_type(state::ObjectType type) {
  return type == k_type_capture || type == k_type_mirror || type == k_type_port;
}

// Field 22 of /proc/PID/stat, counted after the command name, which is in parentheses and may
// itself hold spaces and parentheses.
std::string start_time(int pid) {
  std::ifstream file(fmt::format("/proc/{}/stat", pid));
  std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) {
    return {};
  }
  std::istringstream fields(text.substr(close + 1));
  std::string field;
  for (int index = 3; index <= 22 && fields >> field; ++index) {
    if (index == 22) {
      return field;
    }
  }
  return {};
}

} // namespace

std::string process_token(int pid) {
  if (pid <= 0) {
    return {};
  }
  auto start = start_time(pid);
  return start.empty() ? std::string() : fmt::format("{}:{}", pid, start);
}

int token_pid(const std::string &token) {
  int pid = 0;
  const auto end = token.find(':');
  const auto text = token.substr(0, end);
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), pid);
  return ec == std::errc() && ptr == text.data() + text.size() ? pid : 0;
}

bool process_alive(const std::string &token) {
  const int pid = token_pid(token);
  return pid > 0 && process_token(pid) == token;
}

Result<Registration> Registration::record(state::Store &store, const CaptureInfo &info,
                                          const std::string &token) {
  Registration registration(store, token);
  LTB_CHECK(store.transaction([&]() -> Status {
    LTB_TRY(capture, store.add_object({0, info.lab, k_type_capture, info.target, info.user, token,
                                       info.interface, state::RecordStatus::creating}));
    registration.m_ids.push_back(capture);
    if (!info.mirror.empty()) {
      LTB_TRY(mirror, store.add_object({0, info.lab, k_type_mirror, info.mirror, info.segment,
                                        token, info.bridge, state::RecordStatus::creating}));
      registration.m_ids.push_back(mirror);
      LTB_TRY(port, store.add_object({0, info.lab, k_type_port, info.mirror, info.segment, token,
                                      info.bridge, state::RecordStatus::creating}));
      registration.m_ids.push_back(port);
    }
    return {};
  }));
  return registration;
}

Status Registration::created() {
  return m_store->transaction([&]() -> Status {
    for (auto id : m_ids) {
      LTB_CHECK(m_store->update_object(id, m_token, state::RecordStatus::created));
    }
    return {};
  });
}

Status Registration::forget() {
  return m_store->transaction([&]() -> Status {
    for (auto id : m_ids) {
      LTB_CHECK(m_store->delete_object(id));
    }
    return {};
  });
}

std::vector<ActiveCapture> active_captures(const std::vector<state::ObjectRecord> &objects,
                                           const AliveFn &alive) {
  std::map<std::string, std::string> mirrors; // token -> mirror name
  for (const auto &object : objects) {
    if (object.type == k_type_mirror) {
      mirrors[object.runtime_id] = object.name;
    }
  }
  std::vector<ActiveCapture> active;
  for (const auto &object : objects) {
    if (object.type != k_type_capture || object.runtime_id.empty() || !alive(object.runtime_id)) {
      continue;
    }
    auto mirror = mirrors.find(object.runtime_id);
    active.push_back({object.name, object.parent, object.owner,
                      mirror == mirrors.end() ? std::string() : mirror->second,
                      token_pid(object.runtime_id)});
  }
  return active;
}

std::vector<StaleCapture> stale_captures(const std::vector<state::ObjectRecord> &objects,
                                         const AliveFn &alive) {
  std::map<std::string, StaleCapture> stale;
  for (const auto &object : objects) {
    if (!is_capture_type(object.type)) {
      continue;
    }
    // No token is a record no capture could have made; nothing runs for it either.
    if (!object.runtime_id.empty() && alive(object.runtime_id)) {
      continue;
    }
    auto &entry = stale[object.runtime_id];
    entry.token = object.runtime_id;
    entry.ids.push_back(object.id);
    if (object.type == k_type_mirror) {
      entry.mirrors.emplace_back(object.parent, object.name);
    } else if (object.type == k_type_port) {
      // A port recorded without its mirror (never the case when ltb made it) still goes.
      const std::pair<std::string, std::string> port{object.parent, object.name};
      if (std::find(entry.mirrors.begin(), entry.mirrors.end(), port) == entry.mirrors.end()) {
        entry.mirrors.push_back(port);
      }
    }
  }
  std::vector<StaleCapture> out;
  for (auto &[token, entry] : stale) {
    auto &mirrors = entry.mirrors;
    std::sort(mirrors.begin(), mirrors.end());
    mirrors.erase(std::unique(mirrors.begin(), mirrors.end()), mirrors.end());
    out.push_back(std::move(entry));
  }
  return out;
}

Result<int> clean_stale(state::Store &store, const std::string &lab, const VsctlRunner &vsctl,
                        const AliveFn &alive) {
  LTB_TRY(objects, store.objects(lab));
  int cleaned = 0;
  std::vector<std::string> errors;
  for (const auto &capture : stale_captures(objects, alive)) {
    bool removed = true;
    for (const auto &[bridge, name] : capture.mirrors) {
      if (auto gone = remove_mirror(bridge, name, vsctl); !gone) {
        errors.push_back(gone.error().message);
        removed = false;
      }
    }
    if (!removed) {
      continue; // the records stay, so that a later run tries again
    }
    LTB_CHECK(store.transaction([&]() -> Status {
      for (auto id : capture.ids) {
        LTB_CHECK(store.delete_object(id));
      }
      return {};
    }));
    ++cleaned;
  }
  if (!errors.empty()) {
    std::string message = errors.front();
    for (std::size_t i = 1; i < errors.size(); ++i) {
      message += "; " + errors[i];
    }
    return fail(fmt::format("lab {}: a capture that ended uncleanly left a mirror behind: {}", lab,
                            message),
                "check that Open vSwitch runs (ovs-vsctl show), then run the command again");
  }
  return cleaned;
}

} // namespace ltb::capture
