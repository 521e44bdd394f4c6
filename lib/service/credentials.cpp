#include "service/credentials.hpp"

#include "service/owners.hpp"
#include "util/hash.hpp"
#include "util/password.hpp"

#include <algorithm>
#include <ctime>
#include <fmt/format.h>

namespace ltb::service {

namespace {

/// USER may get credentials from the caller: the caller's own, or an admin's doing; and ltb
/// knows USER (its Unix user is one ltb lets in).
Status check_target(const Session &session, state::Store &store, const std::string &user,
                    Accounts &accounts, const char *what, const char *command) {
  if (!may_act(session.caller, user)) {
    return fail(fmt::format("you may set only your own {}", what),
                fmt::format("run it for yourself (ltb user {} {}), or ask an admin", command,
                            session.caller.name),
                ExitCode::usage);
  }
  const auto account = accounts.user_by_name(user);
  if (!account) {
    return fail(fmt::format("there is no Unix user '{}'", user), "check the name", ExitCode::usage);
  }
  LTB_CHECK(identify(store, accounts, account->uid));
  return {};
}

std::int64_t now_seconds() {
  return static_cast<std::int64_t>(std::time(nullptr));
}

} // namespace

Status set_web_password(const Session &session, state::Store &store, const std::string &user,
                        const std::string &password, Accounts &accounts) {
  LTB_CHECK(check_target(session, store, user, accounts, "web password", "passwd"));
  if (password.size() < k_min_password || password.size() > k_max_password ||
      password.find('\0') != std::string::npos) {
    return fail(
        fmt::format("a web password has {} to {} characters", k_min_password, k_max_password),
        "choose a longer one (a phrase of a few words is easy to type)", ExitCode::usage);
  }
  LTB_TRY(hash, util::hash_password(password));
  return store.set_web_password(user, hash);
}

Result<bool> check_web_password(state::Store &store, const std::string &user,
                                const std::string &password) {
  LTB_TRY(hash, store.web_password(user));
  if (hash.empty()) {
    // The same work as a real check, so that a name without a password takes as long.
    static const std::string k_dummy = util::hash_password("no password is set").value_or("");
    (void)util::verify_password(password, k_dummy);
    return false;
  }
  return util::verify_password(password, hash);
}

Result<CreatedToken> create_token(const Session &session, state::Store &store,
                                  const std::string &user, std::int64_t lifetime,
                                  const std::string &label, Accounts &accounts) {
  LTB_CHECK(check_target(session, store, user, accounts, "API tokens", "token create"));
  if (lifetime <= 0 || lifetime > k_max_token_lifetime) {
    return fail("a token expires within a year", "pass --expires DURATION, like 30d (the default)",
                ExitCode::usage);
  }
  if (label.size() > 200) {
    return fail("a token's name has at most 200 characters", "pass a shorter --name",
                ExitCode::usage);
  }
  LTB_TRY(id, util::random_hex(8));
  LTB_TRY(secret, util::random_hex(32));
  CreatedToken out;
  out.record.id = id;
  out.record.user = user;
  out.record.label = label;
  out.record.digest = util::sha256_hex(secret);
  out.record.created_at = now_seconds();
  out.record.expires_at = out.record.created_at + lifetime;
  LTB_CHECK(store.add_token(out.record));
  out.token = fmt::format("ltb_{}_{}", id, secret);
  return out;
}

Result<std::vector<state::TokenRecord>> list_tokens(const Session &session, state::Store &store,
                                                    const std::string &user) {
  const std::string whose = user.empty() ? session.caller.name : user;
  if (!may_act(session.caller, whose)) {
    return fail(fmt::format("{}'s tokens are theirs to see", whose),
                "list your own: ltb user token list", ExitCode::usage);
  }
  return store.tokens(whose);
}

Status remove_token(const Session &session, state::Store &store, const std::string &id) {
  LTB_TRY(token, store.token(id));
  if (!token || !may_act(session.caller, token->user)) {
    // Another user's token is as unknown as a missing one.
    return fail(fmt::format("no token {}", id), "see your tokens: ltb user token list",
                ExitCode::usage);
  }
  LTB_TRY(deleted, store.delete_token(id));
  (void)deleted;
  return {};
}

Result<std::optional<std::string>> token_user(state::Store &store, const std::string &token,
                                              std::int64_t now) {
  // ltb_ + 16 hex + _ + 64 hex
  if (token.size() != 4 + 16 + 1 + 64 || token.rfind("ltb_", 0) != 0 || token[20] != '_') {
    return std::optional<std::string>();
  }
  const std::string id = token.substr(4, 16);
  const std::string secret = token.substr(21);
  LTB_TRY(record, store.token(id));
  if (!record || !util::equal_in_constant_time(util::sha256_hex(secret), record->digest) ||
      (record->expires_at != 0 && now >= record->expires_at)) {
    return std::optional<std::string>();
  }
  // At most once a minute: a busy client does not write the state file at every request.
  if (now - record->last_used_at >= 60) {
    (void)store.touch_token(id, now);
  }
  return std::optional<std::string>(record->user);
}

} // namespace ltb::service
