#pragma once
// Logging in over the network (`ltb serve --listen`): a web password per user (`ltb user
// passwd`) and API tokens (`ltb user token`). A user sets their own; an admin anyone's. The
// daemon checks them (check_web_password, token_user) to know who a request comes from.

#include "service/service.hpp"
#include "service/users.hpp"
#include "state/store.hpp"
#include "util/error.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace ltb::service {

inline constexpr std::size_t k_min_password = 8;
inline constexpr std::size_t k_max_password = 1024;
inline constexpr std::int64_t k_default_token_lifetime = 30 * 24 * 3600;
inline constexpr std::int64_t k_max_token_lifetime = 366 * 24 * 3600;

/// Sets USER's web password (hashed with yescrypt). USER is a user ltb knows (or root); the
/// caller is USER or an admin.
Status set_web_password(const Session &session, state::Store &store, const std::string &user,
                        const std::string &password, Accounts &accounts = system_accounts());

/// Whether PASSWORD is USER's web password (false when none is set).
Result<bool> check_web_password(state::Store &store, const std::string &user,
                                const std::string &password);

struct CreatedToken {
  state::TokenRecord record;
  std::string token; // ltb_ID_SECRET: shown once, never stored
};

/// A new API token for USER, valid for LIFETIME seconds (1 s to k_max_token_lifetime).
Result<CreatedToken> create_token(const Session &session, state::Store &store,
                                  const std::string &user, std::int64_t lifetime,
                                  const std::string &label, Accounts &accounts = system_accounts());

/// USER's tokens ("" = the caller's own; another user's: admins only).
Result<std::vector<state::TokenRecord>> list_tokens(const Session &session, state::Store &store,
                                                    const std::string &user);

/// Revokes token ID (its owner's or, for an admin, anyone's).
Status remove_token(const Session &session, state::Store &store, const std::string &id);

/// The user a bearer token stands for at NOW; nullopt when it is malformed, unknown, wrong or
/// expired (the daemon's answer is the same for each). Notes its use.
Result<std::optional<std::string>> token_user(state::Store &store, const std::string &token,
                                              std::int64_t now);

} // namespace ltb::service
