#pragma once
// Expected failures as values. Everything in lib/ may depend on this folder; it depends on nothing
// ltb-specific.

#include <string>
#include <utility>

#include <tl/expected.hpp>

namespace ltb {

/// Exit codes documented in ltb(1).
enum class ExitCode : int { ok = 0, failed = 1, usage = 2, interrupted = 130 };

/// What kind of failure, for callers that react to one (retry with another choice, map it to a
/// status). Most failures are `other`: only say more where some caller needs it.
enum class ErrorKind {
  other,
  already_exists, // a name is taken
  address_in_use, // an address range overlaps one in use
  not_supported,  // this host lacks what it takes (a kernel module, a qdisc)
};

/// A failure that a user can act on: what happened (to which object) and what to do next.
struct Error {
  std::string message;
  std::string help;
  ExitCode code = ExitCode::failed;
  ErrorKind kind = ErrorKind::other;
};

template <class T> using Result = tl::expected<T, Error>;
using Status = tl::expected<void, Error>;

inline tl::unexpected<Error> fail(std::string message, std::string help = {},
                                  ExitCode code = ExitCode::failed) {
  return tl::unexpected<Error>(Error{std::move(message), std::move(help), code});
}

inline tl::unexpected<Error> fail(Error e) { return tl::unexpected<Error>(std::move(e)); }

} // namespace ltb

/// LTB_TRY(x, expr): evaluates expr (a Result<T>), returns its error from the enclosing function, or
/// declares `auto x` holding the value.
#define LTB_TRY(var, expr)                                                                         \
  auto var##_result_ = (expr);                                                                     \
  if (!var##_result_) {                                                                            \
    return ::tl::unexpected<::ltb::Error>(std::move(var##_result_).error());                       \
  }                                                                                                \
  auto var = std::move(*var##_result_)

/// LTB_CHECK(expr): evaluates a Status, returns its error from the enclosing function.
#define LTB_CHECK(expr)                                                                            \
  do {                                                                                             \
    auto ltb_status_ = (expr);                                                                     \
    if (!ltb_status_) {                                                                            \
      return ::tl::unexpected<::ltb::Error>(std::move(ltb_status_).error());                       \
    }                                                                                              \
  } while (0)
