#include "capture/live.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <optional>
#include <pcap/pcap.h>
#include <poll.h>
#include <sched.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace ltb::capture {

namespace {

constexpr std::size_t k_output_buffer = 256 * 1024;

struct DumperCloser {
  void operator()(pcap_dumper_t *dumper) const noexcept { pcap_dump_close(dumper); }
};

// Everything up to a working handle, in the calling thread's namespace.
Result<pcap_t *> open_here(const LiveOptions &options, bool *no_device) {
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  pcap_t *raw = pcap_create(options.iface.c_str(), errbuf);
  if (!raw) {
    return fail(fmt::format("cannot capture on {}: {}", options.where, errbuf));
  }
  std::unique_ptr<pcap_t, void (*)(pcap_t *)> handle(raw, pcap_close);
  pcap_set_snaplen(raw, options.snaplen);
  pcap_set_promisc(raw, 1);
  // A ring block goes to ltb when it fills or after latency_ms, whichever comes first.
  pcap_set_timeout(raw, options.latency_ms);
  pcap_set_buffer_size(raw, options.buffer_bytes);
  const int status = pcap_activate(raw);
  if (status < 0) {
    const std::string detail = status == PCAP_ERROR ? pcap_geterr(raw) : pcap_statustostr(status);
    switch (status) {
    case PCAP_ERROR_NO_SUCH_DEVICE:
      if (no_device) {
        *no_device = true;
      }
      return fail(fmt::format("cannot capture on {}: there is no such interface", options.where));
    case PCAP_ERROR_PERM_DENIED:
      return fail(fmt::format("cannot capture on {}: {}", options.where, detail),
                  "capturing needs root (CAP_NET_RAW); run ltb as root");
    case PCAP_ERROR_IFACE_NOT_UP:
      return fail(fmt::format("cannot capture on {}: the interface is down", options.where),
                  "bring it up, or run `ltb up` to repair the lab");
    default:
      return fail(fmt::format("cannot capture on {}: {}", options.where, detail));
    }
  }
  if (!options.filter.empty()) {
    bpf_program program{};
    if (pcap_compile(raw, &program, options.filter.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
      return fail(
          fmt::format("invalid capture filter '{}': {}", options.filter, pcap_geterr(raw)),
          "-f takes a pcap-filter(7) expression, as tcpdump does, e.g. -f 'proto ospf or icmp'",
          ExitCode::usage);
    }
    const int set = pcap_setfilter(raw, &program);
    pcap_freecode(&program);
    if (set != 0) {
      return fail(fmt::format("cannot apply capture filter '{}' on {}: {}", options.filter,
                              options.where, pcap_geterr(raw)));
    }
  }
  if (pcap_setnonblock(raw, 1, errbuf) != 0) {
    return fail(fmt::format("cannot capture on {}: {}", options.where, errbuf));
  }
  return handle.release();
}

} // namespace

void LiveCapture::Closer::operator()(pcap *handle) const noexcept {
  pcap_close(handle);
}

Result<LiveCapture> LiveCapture::open(const LiveOptions &options, bool *no_device) {
  std::optional<Result<pcap_t *>> opened;
  if (options.netns_fd < 0) {
    opened = open_here(options, no_device);
  } else {
    // setns() moves only the calling thread; the packet socket made there stays in that
    // namespace for its lifetime, so the rest of ltb never leaves its own.
    std::thread worker([&] {
      if (::setns(options.netns_fd, CLONE_NEWNET) != 0) {
        opened = fail(fmt::format("cannot enter the network namespace of {}: {}", options.where,
                                  std::strerror(errno)),
                      "ltb needs root (CAP_SYS_ADMIN); check that the node is still running");
        return;
      }
      opened = open_here(options, no_device);
    });
    worker.join();
  }
  if (!*opened) {
    return fail(std::move(*opened).error());
  }
  return LiveCapture(**opened, options.where);
}

Result<WriteResult> write_packets(LiveCapture &capture, const WriteOptions &options) {
  pcap_t *handle = capture.handle();
  const bool to_stdout = options.path.empty() || options.path == "-";
  const std::string output = to_stdout ? "standard output" : options.path;
  int out_fd = to_stdout
                   ? ::fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3)
                   : ::open(options.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out_fd < 0) {
    return fail(fmt::format("cannot write {}: {}", output, std::strerror(errno)),
                to_stdout ? "" : "check the path and its directory's permissions");
  }
  struct stat info {};
  const bool pipe_like =
      ::fstat(out_fd, &info) == 0 && (S_ISFIFO(info.st_mode) || S_ISSOCK(info.st_mode));
  FILE *file = ::fdopen(out_fd, "wb");
  if (!file) {
    ::close(out_fd);
    return fail(fmt::format("cannot write {}: {}", output, std::strerror(errno)));
  }
  std::setvbuf(file, nullptr, _IOFBF, k_output_buffer);
  std::unique_ptr<pcap_dumper_t, DumperCloser> dumper(pcap_dump_fopen(handle, file));
  if (!dumper) {
    std::fclose(file);
    return fail(fmt::format("cannot write {}: {}", output, pcap_geterr(handle)));
  }

  WriteResult result;
  auto flush = [&]() {
    if (pcap_dump_flush(dumper.get()) == 0) {
      return true;
    }
    if (errno == EPIPE) {
      result.end = End::reader_closed;
    } else {
      result.end = End::write_failed;
      result.reason = fmt::format("cannot write {}: {}", output, std::strerror(errno));
    }
    return false;
  };

  // The header first, so that a reader learns the link type before the first packet.
  if (flush()) {
    pollfd fds[2] = {{pcap_get_selectable_fd(handle), POLLIN, 0}, {out_fd, 0, 0}};
    const nfds_t watched = pipe_like ? 2 : 1;
    auto next_check = std::chrono::steady_clock::now();
    bool source_error = false;
    while (true) {
      if (options.stop && options.stop->load()) {
        result.end = End::stopped;
        break;
      }
      const int want =
          options.count == 0
              ? -1
              : static_cast<int>(std::min<std::uint64_t>(options.count - result.written, INT_MAX));
      const int got =
          pcap_dispatch(handle, want, pcap_dump, reinterpret_cast<u_char *>(dumper.get()));
      if (got < 0) {
        result.end = End::source_gone;
        result.reason =
            fmt::format("capture on {} failed: {}", capture.where(),
                        got == PCAP_ERROR ? pcap_geterr(handle) : pcap_statustostr(got));
        break;
      }
      if (got > 0) {
        result.written += static_cast<std::uint64_t>(got);
        if (!flush()) {
          break;
        }
        if (options.count != 0 && result.written >= options.count) {
          result.end = End::count;
          break;
        }
        continue; // more may be waiting already
      }
      if (source_error) {
        // The socket reported an error that pcap did not turn into one: the device is gone.
        result.end = End::source_gone;
        result.reason = fmt::format("{} went away", capture.where());
        break;
      }
      const auto now = std::chrono::steady_clock::now();
      if (options.source_alive && now >= next_check) {
        next_check = now + std::chrono::seconds(1);
        if (!options.source_alive()) {
          result.end = End::source_gone;
          result.reason = fmt::format("{} went away", capture.where());
          break;
        }
      }
      const int ready = ::poll(fds, watched, 250);
      if (ready < 0 && errno != EINTR) {
        result.end = End::source_gone;
        result.reason =
            fmt::format("capture on {} failed: {}", capture.where(), std::strerror(errno));
        break;
      }
      if (ready > 0 && watched == 2 && (fds[1].revents & (POLLERR | POLLHUP)) != 0) {
        result.end = End::reader_closed;
        break;
      }
      source_error = ready > 0 && (fds[0].revents & (POLLERR | POLLNVAL)) != 0;
    }
  }

  pcap_stat stats{};
  if (pcap_stats(handle, &stats) == 0) {
    result.dropped = stats.ps_drop;
    result.if_dropped = stats.ps_ifdrop;
  }
  return result;
}

} // namespace ltb::capture
