#include "server/web_auth.hpp"

#include <doctest/doctest.h>

using namespace ltb::server;
using namespace std::chrono_literals;

TEST_CASE("web sessions: a login's session, its CSRF token, its end and its expiry") {
  Sessions sessions(10s, 2);
  const auto t0 = Clock::time_point{} + 1000s;
  const auto alice = sessions.open("alice", t0);
  CHECK(alice.id.size() == 64);
  CHECK(alice.csrf.size() == 64);
  CHECK(alice.id != alice.csrf);
  const auto found = sessions.find(alice.id, t0 + 9s);
  REQUIRE(found);
  CHECK(found->user == "alice");
  CHECK(found->csrf == alice.csrf);
  CHECK_FALSE(sessions.find("not-" + alice.id, t0));
  CHECK_FALSE(sessions.find(alice.id, t0 + 10s)); // expired: 10 s after the login, not after use
  CHECK_FALSE(sessions.find(alice.id, t0));       // and forgotten

  const auto again = sessions.open("alice", t0);
  sessions.close(again.id);
  CHECK_FALSE(sessions.find(again.id, t0));
}

TEST_CASE("web sessions: a user's oldest session goes when they have too many") {
  Sessions sessions(100s, 2);
  const auto t0 = Clock::time_point{} + 1000s;
  const auto first = sessions.open("bob", t0);
  const auto second = sessions.open("bob", t0 + 1s);
  const auto other = sessions.open("carol", t0);
  const auto third = sessions.open("bob", t0 + 2s);
  CHECK_FALSE(sessions.find(first.id, t0 + 3s));
  CHECK(sessions.find(second.id, t0 + 3s));
  CHECK(sessions.find(third.id, t0 + 3s));
  CHECK(sessions.find(other.id, t0 + 3s));
}

TEST_CASE("login limiter: five failures block the name; thirty block the address") {
  LoginLimiter limiter(5, 30, 300s);
  const auto t0 = Clock::time_point{} + 1000s;
  for (int i = 0; i < 5; ++i) {
    CHECK_FALSE(limiter.blocked("alice", "10.0.0.1", t0 + std::chrono::seconds(i)));
    limiter.failed("alice", "10.0.0.1", t0 + std::chrono::seconds(i));
  }
  auto wait = limiter.blocked("alice", "10.0.0.1", t0 + 10s);
  REQUIRE(wait);
  CHECK(*wait == 290s); // until the first failure is 5 minutes old
  // The name is blocked from another address; the address is not, for another name.
  CHECK(limiter.blocked("alice", "10.0.0.2", t0 + 10s));
  CHECK_FALSE(limiter.blocked("bob", "10.0.0.1", t0 + 10s));
  // One failure ages out: a try is allowed again.
  CHECK_FALSE(limiter.blocked("alice", "10.0.0.1", t0 + 300s));
  // A success clears the name's record.
  limiter.failed("alice", "10.0.0.1", t0 + 300s); // five within the window again
  CHECK(limiter.blocked("alice", "10.0.0.1", t0 + 300s));
  limiter.succeeded("alice");
  CHECK_FALSE(limiter.blocked("alice", "10.0.0.1", t0 + 300s));
  // Many names from one address: the address is blocked for every name.
  for (int i = 0; i < 30; ++i) {
    limiter.failed("user" + std::to_string(i), "10.0.0.9", t0 + 400s);
  }
  CHECK(limiter.blocked("carol", "10.0.0.9", t0 + 401s));
  CHECK_FALSE(limiter.blocked("carol", "10.0.0.8", t0 + 401s));
}

TEST_CASE("cookies and bearer tokens are read from their headers") {
  CHECK(cookie_value("ltb_session=abc", "ltb_session") == "abc");
  CHECK(cookie_value("a=1; ltb_session=abc; b=2", "ltb_session") == "abc");
  CHECK(cookie_value("a=1;ltb_session=\"abc\"", "ltb_session") == "abc");
  CHECK_FALSE(cookie_value("xltb_session=abc", "ltb_session"));
  CHECK_FALSE(cookie_value("", "ltb_session"));
  CHECK(bearer_token("Bearer ltb_1_2") == "ltb_1_2");
  CHECK(bearer_token("bearer  ltb_1_2 ") == "ltb_1_2");
  CHECK(bearer_token("Basic YWxpY2U6eA==").empty());
  CHECK(bearer_token("Bearer").empty());
}

TEST_CASE("the session cookie is HttpOnly and SameSite=Strict, and Secure under TLS") {
  const auto plain = session_cookie("abc", false, 3600s);
  CHECK(plain == "ltb_session=abc; Path=/; Max-Age=3600; HttpOnly; SameSite=Strict");
  CHECK(session_cookie("abc", true, 60s).ends_with("; Secure"));
  CHECK(session_cookie("", false, 0s).find("Max-Age=0") != std::string::npos);
}

TEST_CASE("security headers: the API is never framed, sniffed or cached; TLS adds HSTS") {
  auto has = [](const auto &headers, const std::string &name) {
    for (const auto &[key, value] : headers) {
      if (key == name) {
        return value;
      }
    }
    return std::string();
  };
  const auto api = security_headers(false, false);
  CHECK(has(api, "X-Content-Type-Options") == "nosniff");
  CHECK(has(api, "X-Frame-Options") == "DENY");
  CHECK(has(api, "Cache-Control") == "no-store");
  CHECK(has(api, "Content-Security-Policy").find("default-src 'none'") != std::string::npos);
  CHECK(has(api, "Strict-Transport-Security").empty());
  const auto page = security_headers(true, true);
  CHECK(has(page, "Content-Security-Policy").find("script-src 'self'") != std::string::npos);
  CHECK(has(page, "Strict-Transport-Security").starts_with("max-age="));
}

TEST_CASE("--listen takes an IP address and a port, and knows loopback") {
  auto v4 = parse_listen("127.0.0.1:8443");
  REQUIRE(v4);
  CHECK(v4->host == "127.0.0.1");
  CHECK(v4->port == 8443);
  CHECK(v4->loopback);
  auto v6 = parse_listen("[::1]:80");
  REQUIRE(v6);
  CHECK(v6->host == "::1");
  CHECK(v6->loopback);
  auto any = parse_listen("0.0.0.0:8443");
  REQUIRE(any);
  CHECK_FALSE(any->loopback);
  for (const char *bad : {"8443", "localhost:8443", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:70000",
                          "::1:8443", "[::1:8443", "1.2.3.4:80x"}) {
    CAPTURE(bad);
    auto parsed = parse_listen(bad);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().message.find("--listen") != std::string::npos);
  }
}
