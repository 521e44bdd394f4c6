// Web passwords and API tokens (service/credentials): yescrypt hashes, who may set what, token
// format, expiry and revocation.

#include "service/credentials.hpp"
#include "state/store.hpp"
#include "testutil.hpp"
#include "util/password.hpp"

#include <doctest/doctest.h>

using namespace ltb;

namespace {

/// Accounts of a test: root, alice (1001), bob (1002); no groups.
class TestAccounts : public service::Accounts {
public:
  std::optional<User> user_by_uid(uid_t uid) override {
    for (const auto &u : m_users) {
      if (u.uid == uid) {
        return u;
      }
    }
    return std::nullopt;
  }
  std::optional<User> user_by_name(const std::string &name) override {
    for (const auto &u : m_users) {
      if (u.name == name) {
        return u;
      }
    }
    return std::nullopt;
  }
  std::optional<Group> group_by_name(const std::string &) override { return std::nullopt; }
  std::vector<std::string> groups_of(const User &) override { return {}; }

private:
  std::vector<User> m_users{
      {"root", 0, 0}, {"alice", 1001, 1001}, {"bob", 1002, 1002}, {"mallory", 1003, 1003}};
};

struct Fixture {
  test::TempDir dir;
  service::Context context{dir.file("state.db"), 5};
  service::CancelToken cancel;
  service::NullSink events;
  std::unique_ptr<state::Store> store;
  TestAccounts accounts;
  service::Caller root{0, "root", true, {}};
  service::Caller alice{1001, "alice", false, {}};
  service::Session as_root{context, root, cancel, events};
  service::Session as_alice{context, alice, cancel, events};

  Fixture() {
    auto opened = state::Store::open(context.state_path);
    REQUIRE(opened);
    store = std::move(*opened);
    for (const char *name : {"alice", "bob"}) { // mallory is not an ltb user
      state::UserRecord user;
      user.name = name;
      user.id = std::string(name) == "alice" ? 1001 : 1002;
      REQUIRE(store->put_user(user));
    }
  }
};

} // namespace

TEST_CASE("credentials: yescrypt hashes, salted, checked in constant time") {
  auto one = util::hash_password("correct horse");
  auto two = util::hash_password("correct horse");
  REQUIRE(one);
  REQUIRE(two);
  CHECK(one->rfind("$y$", 0) == 0);
  CHECK(*one != *two); // a fresh salt each time
  CHECK(util::verify_password("correct horse", *one));
  CHECK_FALSE(util::verify_password("correct horsf", *one));
  CHECK_FALSE(util::verify_password("correct horse", ""));
  CHECK_FALSE(util::verify_password("correct horse", "*"));
  CHECK(util::equal_in_constant_time("abc", "abc"));
  CHECK_FALSE(util::equal_in_constant_time("abc", "abd"));
  CHECK_FALSE(util::equal_in_constant_time("abc", "abcd"));
  auto hex = util::random_hex(16);
  REQUIRE(hex);
  CHECK(hex->size() == 32);
  CHECK(*hex != *util::random_hex(16));
}

TEST_CASE("credentials: a user sets their own web password, an admin anyone's") {
  Fixture f;
  REQUIRE(service::set_web_password(f.as_alice, *f.store, "alice", "alice's phrase", f.accounts));
  CHECK(*service::check_web_password(*f.store, "alice", "alice's phrase"));
  CHECK_FALSE(*service::check_web_password(*f.store, "alice", "wrong phrase"));
  CHECK_FALSE(*service::check_web_password(*f.store, "bob", "alice's phrase")); // none set
  // alice may not set bob's; root may.
  auto refused = service::set_web_password(f.as_alice, *f.store, "bob", "bob's phrase", f.accounts);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message == "you may set only your own web password");
  CHECK(f.store->web_password("bob")->empty());
  REQUIRE(service::set_web_password(f.as_root, *f.store, "bob", "bob's phrase", f.accounts));
  CHECK(*service::check_web_password(*f.store, "bob", "bob's phrase"));
  // Too short; a user ltb does not know; no such Unix user.
  CHECK_FALSE(service::set_web_password(f.as_alice, *f.store, "alice", "short", f.accounts));
  CHECK(*service::check_web_password(*f.store, "alice", "alice's phrase")); // unchanged
  auto unknown =
      service::set_web_password(f.as_root, *f.store, "mallory", "a long phrase", f.accounts);
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().message.find("mallory") != std::string::npos);
  CHECK_FALSE(
      service::set_web_password(f.as_root, *f.store, "nobody-here", "a long phrase", f.accounts));
  // The hash is what is stored, never the password.
  CHECK(f.store->web_password("alice")->rfind("$y$", 0) == 0);
}

TEST_CASE("credentials: API tokens are shown once, stored hashed, expire and are revoked") {
  Fixture f;
  auto made = service::create_token(f.as_alice, *f.store, "alice", 3600, "ci", f.accounts);
  REQUIRE(made);
  CHECK(made->token.rfind("ltb_" + made->record.id + "_", 0) == 0);
  CHECK(made->token.size() == 85);
  const auto now = made->record.created_at;
  CHECK(made->record.expires_at == now + 3600);
  CHECK(made->token.find(made->record.digest) == std::string::npos); // not the secret
  auto who = service::token_user(*f.store, made->token, now + 10);
  REQUIRE(who);
  REQUIRE(*who);
  CHECK(**who == "alice");
  CHECK(f.store->token(made->record.id)->value().last_used_at == now + 10);
  // Expired; a changed secret; a malformed one: nobody.
  CHECK_FALSE(*service::token_user(*f.store, made->token, now + 3600));
  auto wrong = made->token;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  CHECK_FALSE(*service::token_user(*f.store, wrong, now + 10));
  for (const char *bad : {"", "ltb_", "Bearer x", "ltb_zz_zz"}) {
    CHECK_FALSE(*service::token_user(*f.store, bad, now));
  }
  // Lifetimes: none, over a year.
  CHECK_FALSE(service::create_token(f.as_alice, *f.store, "alice", 0, "", f.accounts));
  CHECK_FALSE(service::create_token(f.as_alice, *f.store, "alice",
                                    service::k_max_token_lifetime + 1, "", f.accounts));
  // alice lists and revokes her own; not bob's; root sees and revokes anyone's.
  auto bobs = service::create_token(f.as_root, *f.store, "bob", 3600, "", f.accounts);
  REQUIRE(bobs);
  CHECK_FALSE(service::create_token(f.as_alice, *f.store, "bob", 3600, "", f.accounts));
  CHECK(service::list_tokens(f.as_alice, *f.store, "")->size() == 1);
  CHECK_FALSE(service::list_tokens(f.as_alice, *f.store, "bob"));
  CHECK(service::list_tokens(f.as_root, *f.store, "bob")->size() == 1);
  auto hidden = service::remove_token(f.as_alice, *f.store, bobs->record.id);
  REQUIRE_FALSE(hidden);
  CHECK(hidden.error().message == "no token " + bobs->record.id);
  CHECK(*service::token_user(*f.store, bobs->token, now + 10));
  REQUIRE(service::remove_token(f.as_alice, *f.store, made->record.id));
  CHECK_FALSE(*service::token_user(*f.store, made->token, now + 10));
  REQUIRE(service::remove_token(f.as_root, *f.store, bobs->record.id));
  CHECK_FALSE(*service::token_user(*f.store, bobs->token, now + 10));
}
