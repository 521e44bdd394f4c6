#include "server/terminal.hpp"

#include "server/frame.hpp"
#include "util/exec.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <unistd.h>

namespace ltb::server {

TerminalMessage parse_terminal_message(std::string_view text) {
  // Any text may come from the browser: no value() here, which throws on a value of another
  // type (a string for a number), and no float converted to an integer.
  const auto message = nlohmann::json::parse(text, nullptr, false);
  TerminalMessage out;
  if (!message.is_object()) {
    return out;
  }
  const auto type = message.find("type");
  if (type == message.end() || !type->is_string()) {
    return out;
  }
  if (*type == "resize") {
    if (const auto size = parse_resize(text, 1000)) {
      out.type = TerminalMessage::Type::resize;
      out.rows = size->rows;
      out.cols = size->cols;
    }
  } else if (*type == "ack") {
    const auto bytes = message.find("bytes");
    if (bytes != message.end() && bytes->is_number_unsigned() && bytes->get<std::uint64_t>() > 0) {
      out.type = TerminalMessage::Type::ack;
      out.bytes = static_cast<std::size_t>(bytes->get<std::uint64_t>());
    }
  }
  return out;
}

TerminalSession::TerminalSession(TerminalInfo info, RunningChild child,
                                 std::chrono::milliseconds stop_grace)
    : m_info(std::move(info)), m_child(std::move(child)), m_stop_grace(stop_grace),
      m_detached_at(std::chrono::steady_clock::now()) {
  m_thread = std::thread([this] { pump(); });
}

TerminalSession::~TerminalSession() {
  // The command's end, as a closed terminal's: SIGHUP to its group (ltb exec passes a hangup on
  // to the shell in the node, which would otherwise outlive it), SIGKILL after the grace; the
  // pump reaps it when the pty's last holder is gone.
  std::unique_lock lock(m_mutex);
  m_stopping = true;
  if (!m_code) {
    ::kill(-m_child.child.pid, SIGHUP);
    if (!m_acked.wait_for(lock, m_stop_grace, [&] { return m_code.has_value(); })) {
      ::kill(-m_child.child.pid, SIGKILL);
    }
  }
  lock.unlock();
  m_acked.notify_all();
  if (m_thread.joinable()) {
    m_thread.join();
  }
  if (m_child.child.out >= 0) {
    ::close(m_child.child.out);
  }
  // Open until it was reaped: the command writes its code there as it ends, and a closed pipe
  // would end it by SIGPIPE instead (the reap tells the code).
  if (m_child.child.status >= 0) {
    ::close(m_child.child.status);
  }
  std::error_code ec;
  if (!m_info.request_dir.empty()) {
    std::filesystem::remove_all(m_info.request_dir, ec);
  }
}

void TerminalSession::pump() {
  const int fd = m_child.child.out; // the pty's master, both ways
  for (;;) {
    {
      std::unique_lock lock(m_mutex);
      // Flow control: the node's output waits in its pty while the writer is behind.
      m_acked.wait_for(lock, std::chrono::milliseconds(200),
                       [&] { return m_stopping || m_unacked <= k_unacked_limit; });
      if (m_unacked > k_unacked_limit && !m_stopping) {
        continue;
      }
    }
    pollfd pfd{fd, POLLIN, 0};
    if (::poll(&pfd, 1, 200) <= 0) {
      continue;
    }
    char data[16384];
    const ssize_t n = ::read(fd, data, sizeof(data));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
      continue;
    }
    if (n <= 0) { // EIO: the last holder of the pty's other side is gone
      const int code = m_child.wait(m_child.child.pid, true);
      std::lock_guard lock(m_mutex);
      m_code = code;
      m_acked.notify_all(); // a destructor waits for it
      if (m_writer) {
        m_writer->ended(code);
      }
      for (const auto &watcher : m_watchers) {
        watcher->ended(code);
      }
      return;
    }
    const std::string_view bytes(data, static_cast<std::size_t>(n));
    std::lock_guard lock(m_mutex);
    m_recent.append(bytes);
    if (m_recent.size() > k_scrollback) {
      m_recent.erase(0, m_recent.size() - k_scrollback);
    }
    if (m_writer) {
      m_unacked += bytes.size();
      m_writer->output(bytes);
    }
    for (const auto &watcher : m_watchers) {
      watcher->output(bytes);
    }
  }
}

void TerminalSession::attach(const std::shared_ptr<TerminalClient> &client, bool writer) {
  std::lock_guard lock(m_mutex);
  if (!m_recent.empty()) {
    client->output(m_recent);
  }
  if (writer) {
    if (m_writer) {
      m_writer->replaced();
    }
    m_writer = client;
    m_unacked = m_recent.size();
  } else {
    m_watchers.push_back(client);
  }
  if (m_code) {
    client->ended(*m_code);
  }
  m_acked.notify_all();
}

void TerminalSession::detach(const TerminalClient *client) {
  std::lock_guard lock(m_mutex);
  if (m_writer.get() == client) {
    m_writer.reset();
    m_unacked = 0;
    m_detached_at = std::chrono::steady_clock::now();
  }
  std::erase_if(m_watchers, [&](const auto &watcher) { return watcher.get() == client; });
  m_acked.notify_all();
}

void TerminalSession::input(const TerminalClient *client, std::string_view bytes) {
  {
    std::lock_guard lock(m_mutex);
    if (m_writer.get() != client || m_code) {
      return; // a watcher types into nothing
    }
  }
  const int fd = m_child.child.in;
  while (!bytes.empty()) {
    const ssize_t n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && errno == EAGAIN) {
      pollfd pfd{fd, POLLOUT, 0};
      if (::poll(&pfd, 1, 5000) <= 0) {
        return; // the node reads nothing: keystrokes are dropped, not queued without end
      }
      continue;
    }
    if (n <= 0) {
      return;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void TerminalSession::resize(const TerminalClient *client, unsigned short rows,
                             unsigned short cols) {
  std::lock_guard lock(m_mutex);
  if (m_writer.get() == client && !m_code) {
    util::set_terminal_size(m_child.child.in, rows, cols);
  }
}

void TerminalSession::ack(const TerminalClient *client, std::size_t bytes) {
  std::lock_guard lock(m_mutex);
  if (m_writer.get() == client) {
    m_unacked -= std::min(bytes, m_unacked);
    m_acked.notify_all();
  }
}

std::size_t TerminalSession::unacked() {
  std::lock_guard lock(m_mutex);
  return m_unacked;
}

bool TerminalSession::expired(std::chrono::steady_clock::time_point now,
                              std::chrono::seconds grace) {
  std::lock_guard lock(m_mutex);
  if (m_writer) {
    return false;
  }
  if (m_code && m_watchers.empty()) {
    return true;
  }
  return now - m_detached_at >= grace;
}

TerminalHub::TerminalHub(std::chrono::seconds grace) : m_grace(grace) {
  m_sweeper = std::thread([this] { sweep(); });
}

TerminalHub::~TerminalHub() {
  {
    std::lock_guard lock(m_mutex);
    m_stop = true;
  }
  m_wake.notify_all();
  m_sweeper.join();
  std::lock_guard lock(m_mutex);
  m_sessions.clear(); // each ends its command
}

std::shared_ptr<TerminalSession> TerminalHub::add(TerminalInfo info, RunningChild child,
                                                  std::chrono::milliseconds stop_grace) {
  auto session = std::make_shared<TerminalSession>(std::move(info), std::move(child), stop_grace);
  std::lock_guard lock(m_mutex);
  m_sessions[session->info().id] = session;
  return session;
}

std::shared_ptr<TerminalSession> TerminalHub::find(const std::string &id) {
  std::lock_guard lock(m_mutex);
  auto it = m_sessions.find(id);
  return it == m_sessions.end() ? nullptr : it->second;
}

std::shared_ptr<TerminalSession> TerminalHub::find_share(const std::string &share) {
  std::lock_guard lock(m_mutex);
  for (const auto &[id, session] : m_sessions) {
    if (session->info().share == share) {
      return session;
    }
  }
  return nullptr;
}

std::size_t TerminalHub::size() {
  std::lock_guard lock(m_mutex);
  return m_sessions.size();
}

void TerminalHub::sweep() {
  std::unique_lock lock(m_mutex);
  while (!m_stop) {
    m_wake.wait_for(lock, std::chrono::seconds(1));
    std::vector<std::shared_ptr<TerminalSession>> gone;
    const auto now = std::chrono::steady_clock::now();
    for (auto it = m_sessions.begin(); it != m_sessions.end();) {
      if (it->second->expired(now, m_grace)) {
        gone.push_back(std::move(it->second));
        it = m_sessions.erase(it);
      } else {
        ++it;
      }
    }
    lock.unlock();
    gone.clear(); // ends their commands (up to their grace) without holding the hub
    lock.lock();
  }
}

} // namespace ltb::server
