#pragma once
// Private to net/: the relay's files in the lab directory and the helpers that both its
// controlling side (relay.cpp) and the process (relay_process.cpp) use.

#include "net/relay.hpp"

#include <string>

namespace ltb::net {

inline constexpr const char *k_relay_conf = "relay.conf";
inline constexpr const char *k_relay_pid = "relay.pid";
inline constexpr const char *k_relay_sock = "relay.sock";
inline constexpr const char *k_relay_log = "relay.log";

std::string relay_file(const std::string &dir, const char *name);
std::string read_text(const std::string &path);
Status write_text(const std::string &path, const std::string &text);
/// The process's argument naming its lab directory (how ltb recognises it in /proc).
std::string relay_dir_arg(const std::string &dir);
/// The pid in relay.pid when that process is this lab's relay; 0 otherwise.
int relay_live_pid(const std::string &dir);

RelayState relay_state(const std::string &dir);
Status relay_set(const std::string &dir, const RelayLink &link, Direction direction,
                 const Impairment &impairment);
Status relay_forget(const std::string &dir, const std::string &key);
Status relay_resume(const std::string &dir);
Status relay_stop(const std::string &dir);

} // namespace ltb::net
