#pragma once
// The command line: argv -> options struct -> a command function -> printed result. One file per
// command under cli/. Everything else in lib/ may be used from here; nothing depends on cli/.

namespace ltb::cli {
/// The whole program; returns the exit code (0 ok, 1 operation failed, 2 bad usage or input).
int main(int argc, char **argv);

/// What every command does first and the daemon's fork server does once for its copies: loads
/// the name-service modules (the caller's groups), initialises libcurl (and OpenSSL's
/// configuration) and SQLite.
void warm_up();
} // namespace ltb::cli
