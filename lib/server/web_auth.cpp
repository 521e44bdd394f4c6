#include "server/web_auth.hpp"

#include "util/password.hpp"

#include <algorithm>
#include <boost/asio/ip/address.hpp>
#include <cctype>
#include <charconv>
#include <fmt/format.h>
#include <stdexcept>

namespace ltb::server {

namespace {

std::string random_id() {
  auto id = util::random_hex(32);
  // getrandom does not fail on a running kernel with its entropy pool ready; an id that is not
  // random would be worse than none, so such a failure ends the daemon loudly.
  if (!id) {
    throw std::runtime_error("no random bytes for a session id: " + id.error().message);
  }
  return *id;
}

} // namespace

WebSession Sessions::open(const std::string &user, Clock::time_point now) {
  WebSession session{random_id(), user, random_id(), now + m_lifetime};
  std::lock_guard lock(m_mutex);
  std::erase_if(m_sessions, [&](const auto &entry) { return entry.second.expires <= now; });
  std::vector<std::pair<Clock::time_point, std::string>> mine;
  for (const auto &[id, s] : m_sessions) {
    if (s.user == user) {
      mine.emplace_back(s.expires, id);
    }
  }
  if (mine.size() >= m_per_user) {
    std::sort(mine.begin(), mine.end());
    for (std::size_t i = 0; i + m_per_user <= mine.size(); ++i) {
      m_sessions.erase(mine[i].second);
    }
  }
  m_sessions[session.id] = session;
  return session;
}

std::optional<WebSession> Sessions::find(const std::string &id, Clock::time_point now) {
  std::lock_guard lock(m_mutex);
  auto it = m_sessions.find(id);
  if (it == m_sessions.end()) {
    return std::nullopt;
  }
  if (it->second.expires <= now) {
    m_sessions.erase(it);
    return std::nullopt;
  }
  return it->second;
}

void Sessions::close(const std::string &id) {
  std::lock_guard lock(m_mutex);
  m_sessions.erase(id);
}

std::optional<std::chrono::seconds>
LoginLimiter::wait_for(const std::string &key, std::size_t limit, Clock::time_point now) {
  auto it = m_failures.find(key);
  if (it == m_failures.end()) {
    return std::nullopt;
  }
  auto &times = it->second;
  while (!times.empty() && times.front() + m_window <= now) {
    times.pop_front();
  }
  if (times.empty()) {
    m_failures.erase(it);
    return std::nullopt;
  }
  if (times.size() < limit) {
    return std::nullopt;
  }
  const auto left = times.front() + m_window - now;
  return std::max(std::chrono::seconds(1),
                  std::chrono::ceil<std::chrono::seconds>(left)); // never "retry in 0 s"
}

void LoginLimiter::note(const std::string &key, std::size_t limit, Clock::time_point now) {
  auto &times = m_failures[key];
  times.push_back(now);
  while (times.size() > limit) {
    times.pop_front();
  }
}

std::optional<std::chrono::seconds>
LoginLimiter::blocked(const std::string &user, const std::string &address, Clock::time_point now) {
  std::lock_guard lock(m_mutex);
  auto by_user = wait_for("u:" + user, m_per_user, now);
  auto by_address = wait_for("a:" + address, m_per_address, now);
  if (by_user && by_address) {
    return std::max(*by_user, *by_address);
  }
  return by_user ? by_user : by_address;
}

void LoginLimiter::failed(const std::string &user, const std::string &address,
                          Clock::time_point now) {
  std::lock_guard lock(m_mutex);
  note("u:" + user, m_per_user, now);
  note("a:" + address, m_per_address, now);
  // A flood of made-up names must not grow the table without bound.
  if (m_failures.size() > 100000) {
    std::erase_if(m_failures, [&](const auto &entry) {
      return entry.second.empty() || entry.second.back() + m_window <= now;
    });
  }
}

void LoginLimiter::succeeded(const std::string &user) {
  std::lock_guard lock(m_mutex);
  m_failures.erase("u:" + user);
}

std::optional<std::string> cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const auto end = header.find(';');
    auto pair = header.substr(0, end);
    header = end == std::string_view::npos ? std::string_view{} : header.substr(end + 1);
    while (!pair.empty() && (pair.front() == ' ' || pair.front() == '\t')) {
      pair.remove_prefix(1);
    }
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos || pair.substr(0, eq) != name) {
      continue;
    }
    auto value = pair.substr(eq + 1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
      value.remove_suffix(1);
    }
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    return std::string(value);
  }
  return std::nullopt;
}

std::string session_cookie(const std::string &id, bool secure, std::chrono::seconds max_age) {
  return fmt::format("{}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{}", k_session_cookie, id,
                     max_age.count(), secure ? "; Secure" : "");
}

std::string bearer_token(std::string_view authorization) {
  constexpr std::string_view k_scheme = "bearer ";
  if (authorization.size() <= k_scheme.size()) {
    return "";
  }
  for (std::size_t i = 0; i < k_scheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != k_scheme[i]) {
      return "";
    }
  }
  auto token = authorization.substr(k_scheme.size());
  while (!token.empty() && token.front() == ' ') {
    token.remove_prefix(1);
  }
  while (!token.empty() && token.back() == ' ') {
    token.remove_suffix(1);
  }
  return std::string(token);
}

std::vector<std::pair<std::string, std::string>> security_headers(bool tls, bool page) {
  std::vector<std::pair<std::string, std::string>> headers{
      {"X-Content-Type-Options", "nosniff"},
      {"X-Frame-Options", "DENY"},
      {"Referrer-Policy", "no-referrer"},
      {"Cross-Origin-Opener-Policy", "same-origin"},
      {"Cross-Origin-Resource-Policy", "same-origin"},
      {"Permissions-Policy", "camera=(), microphone=(), geolocation=()"},
  };
  if (page) {
    // The UI's own scripts and styles only (xterm.js sets inline styles), its API and WebSocket
    // on the same origin, no plugins, no framing.
    headers.emplace_back("Content-Security-Policy",
                         "default-src 'self'; script-src 'self'; style-src 'self' "
                         "'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; "
                         "object-src 'none'; base-uri 'none'; form-action 'self'; "
                         "frame-ancestors 'none'");
  } else {
    headers.emplace_back("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'");
    headers.emplace_back("Cache-Control", "no-store");
  }
  if (tls) {
    headers.emplace_back("Strict-Transport-Security", "max-age=31536000");
  }
  return headers;
}

Result<ListenAddress> parse_listen(const std::string &text) {
  const auto bad = [&](const std::string &why) {
    return fail(fmt::format("--listen '{}': {}", text, why),
                "give ADDRESS:PORT, e.g. --listen 127.0.0.1:8443 or --listen [::]:8443",
                ExitCode::usage);
  };
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    return bad("no ADDRESS:PORT");
  }
  std::string host = text.substr(0, colon);
  if (host.front() == '[') {
    if (host.back() != ']') {
      return bad("an IPv6 address is written in brackets: [::1]:8443");
    }
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return bad("an IPv6 address is written in brackets: [::1]:8443");
  }
  const std::string port_text = text.substr(colon + 1);
  unsigned port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port == 0 ||
      port > 65535) {
    return bad(fmt::format("'{}' is not a port (1 to 65535)", port_text));
  }
  boost::system::error_code error;
  const auto address = boost::asio::ip::make_address(host, error);
  if (error) {
    return bad(fmt::format("'{}' is not an IP address (a host name is not bound; give its address)",
                           host));
  }
  ListenAddress out;
  out.host = address.to_string();
  out.port = static_cast<std::uint16_t>(port);
  out.loopback = address.is_loopback();
  return out;
}

} // namespace ltb::server
