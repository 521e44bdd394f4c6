#pragma once
// Who a request on the network listener comes from, and the rules around it: browser sessions
// (an HttpOnly cookie and a CSRF token, kept in memory: a daemon restart means logging in again),
// the failed-login limiter, bearer tokens' header, the listen address, and the security headers
// every answer carries. Pure but for the clock the callers pass and the random ids; no sockets.

#include "util/error.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ltb::server {

using Clock = std::chrono::steady_clock;

inline constexpr const char *k_session_cookie = "ltb_session";
inline constexpr const char *k_csrf_header = "X-CSRF-Token";

struct WebSession {
  std::string id;   // the cookie's value (random, 256 bits)
  std::string user; // ltb's name of the user who logged in
  std::string csrf; // what a state-changing request repeats in X-CSRF-Token
  Clock::time_point expires;
};

/// The logged-in browsers. A session lasts `lifetime` from its login (no sliding renewal: a
/// stolen cookie is worth a bounded time), and at most `per_user` are kept per user (the oldest
/// goes first). Thread-safe.
class Sessions {
public:
  explicit Sessions(std::chrono::seconds lifetime = std::chrono::hours(12),
                    std::size_t per_user = 32)
      : m_lifetime(lifetime), m_per_user(per_user) {}

  WebSession open(const std::string &user, Clock::time_point now);
  /// The live session of a cookie's value; nullopt when unknown or expired (then forgotten).
  std::optional<WebSession> find(const std::string &id, Clock::time_point now);
  void close(const std::string &id);
  std::chrono::seconds lifetime() const { return m_lifetime; }

private:
  std::chrono::seconds m_lifetime;
  std::size_t m_per_user;
  std::mutex m_mutex;
  std::map<std::string, WebSession> m_sessions;
};

/// Failed logins: more than `per_user` failures within `window` for one user name, or more than
/// `per_address` from one client address (a classroom behind one NAT address makes more typos
/// than one user), block further attempts for that name or address until the oldest counted
/// failure is `window` old. A success clears the name's record. Thread-safe.
class LoginLimiter {
public:
  explicit LoginLimiter(std::size_t per_user = 5, std::size_t per_address = 30,
                        std::chrono::seconds window = std::chrono::minutes(5))
      : m_per_user(per_user), m_per_address(per_address), m_window(window) {}

  /// How long USER from ADDRESS must wait before trying again; nullopt when it may try now.
  std::optional<std::chrono::seconds> blocked(const std::string &user, const std::string &address,
                                              Clock::time_point now);
  void failed(const std::string &user, const std::string &address, Clock::time_point now);
  void succeeded(const std::string &user);

private:
  std::optional<std::chrono::seconds> wait_for(const std::string &key, std::size_t limit,
                                               Clock::time_point now);
  void note(const std::string &key, std::size_t limit, Clock::time_point now);

  std::size_t m_per_user;
  std::size_t m_per_address;
  std::chrono::seconds m_window;
  std::mutex m_mutex;
  std::map<std::string, std::deque<Clock::time_point>> m_failures;
};

/// The value of cookie NAME in a Cookie header ("a=1; ltb_session=x"); nullopt when absent.
std::optional<std::string> cookie_value(std::string_view header, std::string_view name);

/// The Set-Cookie value of a session (HttpOnly, SameSite=Strict, Path=/, Secure under TLS); an
/// empty id with max_age 0 clears it.
std::string session_cookie(const std::string &id, bool secure, std::chrono::seconds max_age);

/// The token of an `Authorization: Bearer TOKEN` header; "" for anything else.
std::string bearer_token(std::string_view authorization);

/// The headers every answer carries: no sniffing, no framing, no referrer, no caching of the API,
/// a Content-Security-Policy (the web UI's own for its pages, none at all for the API's JSON), and
/// HSTS under TLS.
std::vector<std::pair<std::string, std::string>> security_headers(bool tls, bool page);

struct ListenAddress {
  std::string host; // an IP address (v4, or v6 without brackets)
  std::uint16_t port = 0;
  bool loopback = false;
};

/// `--listen ADDR:PORT` (`127.0.0.1:8443`, `[::1]:8443`, `0.0.0.0:8443`); a usage error naming
/// the flag for anything else (host names are refused: the address is what gets bound).
Result<ListenAddress> parse_listen(const std::string &text);

} // namespace ltb::server
