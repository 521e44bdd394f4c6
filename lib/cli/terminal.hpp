#pragma once
// The local terminal in raw mode while a remote terminal (a console, an exec or ssh session) is
// attached. Used by `ltb console` and `ltb exec`.

#include <csignal>
#include <termios.h>

namespace ltb::cli {

/// Raw mode for the life of the object; the saved settings come back on every exit path,
/// including SIGINT/SIGTERM/SIGHUP/SIGQUIT (which raw mode no longer makes from the keyboard,
/// but `kill` still can).
class RawTerminal {
public:
  explicit RawTerminal(int fd) : m_fd(fd) {
    if (tcgetattr(fd, &m_saved) != 0) {
      return;
    }
    s_fd = fd;
    s_saved = m_saved;
    struct sigaction action {};
    action.sa_handler = [](int signal) {
      tcsetattr(s_fd, TCSAFLUSH, &s_saved);
      std::signal(signal, SIG_DFL);
      std::raise(signal);
    };
    sigemptyset(&action.sa_mask);
    for (int signal : {SIGTERM, SIGHUP, SIGINT, SIGQUIT}) {
      sigaction(signal, &action, nullptr);
    }
    termios raw = m_saved;
    cfmakeraw(&raw);
    m_active = tcsetattr(fd, TCSAFLUSH, &raw) == 0;
  }
  ~RawTerminal() {
    if (m_active) {
      tcsetattr(m_fd, TCSAFLUSH, &m_saved);
    }
    for (int signal : {SIGTERM, SIGHUP, SIGINT, SIGQUIT}) {
      std::signal(signal, SIG_DFL);
    }
  }
  RawTerminal(const RawTerminal &) = delete;
  RawTerminal &operator=(const RawTerminal &) = delete;

private:
  static inline int s_fd = -1;
  static inline termios s_saved{};
  int m_fd;
  termios m_saved{};
  bool m_active = false;
};

} // namespace ltb::cli
