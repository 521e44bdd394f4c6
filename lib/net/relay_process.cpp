// The relay process (`ltb relay --lab-dir DIR`): one thread, epoll over a packet socket per link
// end, a timerfd for the next frame due, the control socket and a signalfd. Frames are read with
// their virtio-net header (PACKET_VNET_HDR), so that checksum-offloaded and GSO frames from the
// containers' veths cross intact, and written back the same way; a VLAN tag the kernel lifted off
// is put back in the frame.
//
// Per frame (up to 1500 bytes of MTU) the relay makes no system call and no allocation of its
// own: frames arrive in a mapped receive ring, leave in batches (sendmmsg) from a second socket
// per end, and a frame that the impairments do not hold is sent straight from its ring slot. What
// they hold is copied into a buffer taken from a pool. The timer is set only when the next due
// time changes. Measured with perf on tests/bench/relay.sh's flat-out 64-byte UDP: what remains
// is mostly the kernel's (the frame's delivery in the receiving namespace runs inside sendmmsg).

#include "net/relay.hpp"
#include "net/relay_engine.hpp"
#include "net/relay_files.hpp"

#include <arpa/inet.h>
#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <map>
#include <memory>
#include <net/if.h>
#include <optional>
#include <set>
#include <sstream>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

namespace ltb::net {

namespace {

/// struct virtio_net_hdr (linux/virtio_net.h, which does not compile as C++), little-endian
/// as the packet socket writes it on this host.
struct VnetHeader {
  std::uint8_t flags;
  std::uint8_t gso_type;
  std::uint16_t hdr_len;
  std::uint16_t gso_size;
  std::uint16_t csum_start;
  std::uint16_t csum_offset;
};
constexpr std::uint8_t k_needs_csum = 1; // k_needs_csum
constexpr std::uint8_t k_gso_none = 0;   // k_gso_none
constexpr std::size_t k_vnet = sizeof(VnetHeader);
static_assert(k_vnet == 10);
constexpr std::size_t k_batch = 64; // frames per sendmmsg, and per round over a port's ring
constexpr std::size_t k_rounds = 8; // rounds per port and wake-up: a busy port starves no other
constexpr std::size_t k_buffer = 65536 + 64; // a GSO frame, its header and a VLAN tag
// The receive ring: 1024 slots of 2 KiB (2 MiB per link end), in blocks of 64 KiB. A slot holds
// a frame of 1500 bytes of MTU with its headers; a bigger one goes through the socket (COPY).
constexpr unsigned k_slot_size = 2048;
constexpr unsigned k_slots = 1024;
constexpr unsigned k_ring_block = 65536;
// Where the kernel puts the frame in a slot at the least: after its header and the address.
constexpr std::size_t k_slot_header = TPACKET_ALIGN(sizeof(tpacket2_hdr)) + sizeof(sockaddr_ll);
constexpr std::size_t k_spare_buffers = 4096; // buffers the pool keeps for held frames

std::int64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void log(const std::string &message) {
  auto t = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  std::fprintf(stderr, "%s %s\n", stamp, message.c_str());
  std::fflush(stderr);
}

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd &&other) noexcept : fd(other.fd) { other.fd = -1; }
  Fd &operator=(Fd &&other) noexcept {
    std::swap(fd, other.fd);
    return *this;
  }
  ~Fd() {
    if (fd >= 0) {
      ::close(fd);
    }
  }
};

enum class SourceKind { port, control, timer, signal };

struct Link;

/// What an epoll event points at.
struct Source {
  SourceKind kind;
  Link *link = nullptr;
  int side = 0; // 0: end a's interface, 1: end b's
};

/// A packet socket's receive ring (PACKET_RX_RING, TPACKET_V2), mapped into the relay: the kernel
/// copies each frame into the next slot and hands the slot over (TP_STATUS_USER); the relay reads
/// it in place and hands it back (TP_STATUS_KERNEL). No system call per frame or per batch, and
/// no socket buffer to clone, queue and free.
class RxRing {
public:
  RxRing() = default;
  RxRing(RxRing &&other) noexcept { swap(other); }
  RxRing &operator=(RxRing &&other) noexcept {
    swap(other);
    return *this;
  }
  RxRing(const RxRing &) = delete;
  RxRing &operator=(const RxRing &) = delete;
  ~RxRing() {
    if (m_base != nullptr) {
      ::munmap(m_base, m_size);
    }
  }

  /// Maps the ring that PACKET_RX_RING made on `fd`.
  bool map(int fd) {
    m_size = static_cast<std::size_t>(k_slots) * k_slot_size;
    void *base = ::mmap(nullptr, m_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
      return false;
    }
    m_base = static_cast<std::uint8_t *>(base);
    return true;
  }

  /// The slot at the head when the kernel has filled it, else nullptr.
  tpacket2_hdr *ready() const {
    auto *slot = reinterpret_cast<tpacket2_hdr *>(m_base + std::size_t{m_head} * k_slot_size);
    return (__atomic_load_n(&slot->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) != 0 ? slot
                                                                                       : nullptr;
  }
  void advance() { m_head = (m_head + 1) % k_slots; }
  /// Hands a slot back: the relay no longer reads it.
  static void release(tpacket2_hdr *slot) {
    __atomic_store_n(&slot->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
  }

private:
  void swap(RxRing &other) noexcept {
    std::swap(m_base, other.m_base);
    std::swap(m_size, other.m_size);
    std::swap(m_head, other.m_head);
  }

  std::uint8_t *m_base = nullptr;
  std::size_t m_size = 0;
  unsigned m_head = 0;
};

struct Port {
  std::string name;
  int ifindex = 0;
  Fd rx;       // every frame arriving on the interface, through `ring`
  Fd tx;       // what the relay sends; a socket of its own, kept out of epoll (see open_port)
  RxRing ring; // after `rx`, so that it is unmapped before the socket closes
  bool failed = false; // its error was logged once
};

struct Link {
  RelayEntry entry;
  std::array<Port, 2> ports;
  std::array<ImpairedPath, 2> paths; // [0]: a -> b (frames arriving on port 0)
  std::array<Source, 2> sources;
};

/// Opens `name`'s two packet sockets: one receives every frame arriving on the interface (none
/// that the relay sends) into a ring, the other sends. Sending on a socket that epoll watches
/// would cost a walk of its wait queue for every frame sent (the kernel tells waiters of room to
/// write when a frame is freed), so the sending socket is bound with protocol 0: it receives
/// nothing and nobody waits on it.
Result<Port> open_port(const std::string &name, int ifindex) {
  Port port;
  port.name = name;
  port.ifindex = ifindex;
  port.rx = Fd(::socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  port.tx = Fd(::socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (port.rx.fd < 0 || port.tx.fd < 0) {
    return fail(fmt::format("cannot open a packet socket: {}", std::strerror(errno)),
                "the relay needs CAP_NET_RAW (run ltb as root)");
  }
  int one = 1;
  int big = 8 << 20;
  auto option = [&](const Fd &fd, int level, int name_, const void *value, socklen_t size,
                    const char *what) -> Status {
    if (::setsockopt(fd.fd, level, name_, value, size) != 0) {
      return fail(
          fmt::format("cannot set {} on {}'s packet socket: {}", what, name, std::strerror(errno)));
    }
    return {};
  };
  // The receiving socket. The header option and the version come before the ring, which fixes
  // the slots' layout.
  LTB_CHECK(option(port.rx, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one, "PACKET_VNET_HDR"));
  int version = TPACKET_V2;
  LTB_CHECK(option(port.rx, SOL_PACKET, PACKET_VERSION, &version, sizeof version, "TPACKET_V2"));
  // A frame too big for a slot (GSO, jumbo) is queued whole on the socket as well, its slot
  // marked TP_STATUS_COPY; the socket buffer bounds those.
  LTB_CHECK(
      option(port.rx, SOL_PACKET, PACKET_COPY_THRESH, &one, sizeof one, "PACKET_COPY_THRESH"));
  LTB_CHECK(option(port.rx, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one, "PACKET_AUXDATA"));
  // Without it the socket would read back every frame the relay sends out of this interface.
  LTB_CHECK(option(port.rx, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one,
                   "PACKET_IGNORE_OUTGOING"));
  if (::setsockopt(port.rx.fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) != 0) {
    (void)::setsockopt(port.rx.fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  }
  tpacket_req ring{};
  ring.tp_block_size = k_ring_block;
  ring.tp_block_nr = k_slots * k_slot_size / k_ring_block;
  ring.tp_frame_size = k_slot_size;
  ring.tp_frame_nr = k_slots;
  LTB_CHECK(option(port.rx, SOL_PACKET, PACKET_RX_RING, &ring, sizeof ring, "PACKET_RX_RING"));
  if (!port.ring.map(port.rx.fd)) {
    return fail(fmt::format("cannot map the receive ring of {}'s packet socket: {}", name,
                            std::strerror(errno)));
  }
  packet_mreq promiscuous{};
  promiscuous.mr_ifindex = ifindex;
  promiscuous.mr_type = PACKET_MR_PROMISC; // undone by the kernel when the socket closes
  LTB_CHECK(option(port.rx, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &promiscuous, sizeof promiscuous,
                   "promiscuous mode"));
  sockaddr_ll address{};
  address.sll_family = AF_PACKET;
  address.sll_protocol = htons(ETH_P_ALL);
  address.sll_ifindex = ifindex;
  if (::bind(port.rx.fd, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0) {
    return fail(fmt::format("cannot bind a packet socket to {}: {}", name, std::strerror(errno)));
  }
  // The sending socket.
  LTB_CHECK(option(port.tx, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one, "PACKET_VNET_HDR"));
  if (::setsockopt(port.tx.fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) != 0) {
    (void)::setsockopt(port.tx.fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  }
  address.sll_protocol = 0;
  if (::bind(port.tx.fd, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0) {
    return fail(fmt::format("cannot bind a packet socket to {}: {}", name, std::strerror(errno)));
  }
  return port;
}

/// Computes a checksum the sender left to offload, so that a corrupted frame fails it.
void finish_checksum(std::uint8_t *frame, std::size_t size) {
  auto *header = reinterpret_cast<VnetHeader *>(frame);
  if (!(header->flags & k_needs_csum) || header->gso_type != k_gso_none) {
    return;
  }
  std::size_t start = k_vnet + header->csum_start;
  std::size_t field = start + header->csum_offset;
  if (field + 2 > size) {
    return;
  }
  std::uint32_t sum = 0;
  for (std::size_t i = start; i + 1 < size; i += 2) {
    sum += static_cast<std::uint32_t>(frame[i] << 8 | frame[i + 1]);
  }
  if ((size - start) % 2 == 1) {
    sum += static_cast<std::uint32_t>(frame[size - 1] << 8);
  }
  while (sum >> 16) {
    sum = (sum & 0xffff) + (sum >> 16);
  }
  auto checksum = static_cast<std::uint16_t>(~sum);
  frame[field] = static_cast<std::uint8_t>(checksum >> 8);
  frame[field + 1] = static_cast<std::uint8_t>(checksum & 0xff);
  header->flags = 0;
}

class Server {
public:
  explicit Server(std::string dir) : m_dir(std::move(dir)) { m_big.resize(k_buffer); }

  /// Sets up the control socket, the timer, the signals, and the links of relay.conf. The reply
  /// text is what a reload answers ("ok" and the links it cannot serve).
  Result<std::string> open() {
    ::prctl(PR_SET_TIMERSLACK, 1UL); // wake up on time, not 50 us late
    m_epoll = Fd(::epoll_create1(EPOLL_CLOEXEC));
    m_timer = Fd(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    ::sigprocmask(SIG_BLOCK, &signals, nullptr);
    m_signal = Fd(::signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC));
    if (m_epoll.fd < 0 || m_timer.fd < 0 || m_signal.fd < 0) {
      return fail(fmt::format("cannot set up the relay's event loop: {}", std::strerror(errno)));
    }
    auto path = relay_file(m_dir, k_relay_sock);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (path.size() >= sizeof address.sun_path) {
      return fail(fmt::format("the relay's socket path {} is too long", path),
                  "use a shorter state directory");
    }
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    ::unlink(path.c_str());
    m_control = Fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (m_control.fd < 0 ||
        ::bind(m_control.fd, reinterpret_cast<sockaddr *>(&address), sizeof address) != 0 ||
        ::listen(m_control.fd, 8) != 0) {
      return fail(fmt::format("cannot listen on {}: {}", path, std::strerror(errno)));
    }
    ::chmod(path.c_str(), 0600);
    watch(m_control.fd, &m_control_source);
    watch(m_timer.fd, &m_timer_source);
    watch(m_signal.fd, &m_signal_source);
    return reload();
  }

  /// Serves until told to stop.
  void run() {
    std::array<epoll_event, 64> events{};
    while (!m_stop) {
      int n = ::epoll_wait(m_epoll.fd, events.data(), static_cast<int>(events.size()), -1);
      if (n < 0) {
        if (errno == EINTR) {
          continue;
        }
        log(fmt::format("epoll_wait: {}", std::strerror(errno)));
        return;
      }
      for (int i = 0; i < n && !m_stop; ++i) {
        auto *source = static_cast<Source *>(events[static_cast<std::size_t>(i)].data.ptr);
        switch (source->kind) {
        case SourceKind::port:
          if (m_live.count(source->link) != 0) {
            if ((events[static_cast<std::size_t>(i)].events & EPOLLERR) != 0) {
              take_error(*source->link, source->side);
            }
            receive(*source->link, source->side);
          }
          break;
        case SourceKind::timer: {
          std::uint64_t expirations = 0;
          (void)::read(m_timer.fd, &expirations, sizeof expirations);
          m_armed = 0; // it went off: send_due sets it again
          break;
        }
        case SourceKind::control:
          control();
          i = n; // a reload may have closed the sockets of later events: epoll reports again
          break;
        case SourceKind::signal: {
          signalfd_siginfo info{};
          (void)::read(m_signal.fd, &info, sizeof info);
          log(fmt::format("stopping on signal {}", info.ssi_signo));
          m_stop = true;
          break;
        }
        }
      }
      send_due();
    }
  }

private:
  /// A frame as received: its virtio-net header, then the Ethernet frame.
  struct View {
    std::uint8_t *data = nullptr;
    std::size_t size = 0;
    bool scratch = false; // in m_big (a frame too big for its slot), not in the ring
  };

  void watch(int fd, Source *source) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.ptr = source;
    ::epoll_ctl(m_epoll.fd, EPOLL_CTL_ADD, fd, &event);
  }

  /// Reads relay.conf and serves it: new links are opened, gone ones closed, changed
  /// impairments applied in place (frames in flight keep going).
  Result<std::string> reload() {
    LTB_TRY(config, parse_relay_config(read_text(relay_file(m_dir, k_relay_conf))));
    std::string errors;
    for (auto it = m_links.begin(); it != m_links.end();) {
      if (config.count(it->first) == 0) {
        m_live.erase(it->second.get());
        it = m_links.erase(it); // closing its sockets takes them out of epoll
      } else {
        ++it;
      }
    }
    for (const auto &[key, entry] : config) {
      auto &link = m_links[key];
      if (!link) {
        link = std::make_unique<Link>();
        link->paths[0] = ImpairedPath({}, std::hash<std::string>{}(key)*2 + 1);
        link->paths[1] = ImpairedPath({}, std::hash<std::string>{}(key)*2 + 2);
        link->sources[0] = {SourceKind::port, link.get(), 0};
        link->sources[1] = {SourceKind::port, link.get(), 1};
        m_live.insert(link.get());
      }
      link->entry = entry;
      link->paths[0].set(entry.a_to_b);
      link->paths[1].set(entry.b_to_a);
      const std::string *names[2] = {&entry.link.a, &entry.link.b};
      for (int side = 0; side < 2; ++side) {
        auto &port = link->ports[static_cast<std::size_t>(side)];
        int ifindex = static_cast<int>(::if_nametoindex(names[side]->c_str()));
        if (ifindex == 0) {
          port = Port{};
          port.name = *names[side];
          port.failed = true;
          errors += fmt::format("error {} no interface {}\n", key, *names[side]);
          continue;
        }
        // A recreated interface (rewired link) has a new index: open it again.
        if (port.rx.fd >= 0 && port.ifindex == ifindex && port.name == *names[side] &&
            !port.failed) {
          continue;
        }
        auto opened = open_port(*names[side], ifindex);
        if (!opened) {
          errors += fmt::format("error {} {}\n", key, opened.error().message);
          continue;
        }
        port = std::move(*opened);
        watch(port.rx.fd, &link->sources[static_cast<std::size_t>(side)]);
      }
    }
    if (!errors.empty()) {
      log(errors);
    }
    log(fmt::format("serving {} link(s)", m_links.size()));
    return "ok\n" + errors;
  }

  void control() {
    Fd client(::accept4(m_control.fd, nullptr, nullptr, SOCK_CLOEXEC));
    if (client.fd < 0) {
      return;
    }
    timeval timeout{1, 0};
    ::setsockopt(client.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    std::string request;
    char buffer[256];
    while (request.find('\n') == std::string::npos) {
      auto n = ::recv(client.fd, buffer, sizeof buffer, 0);
      if (n <= 0) {
        break;
      }
      request.append(buffer, static_cast<std::size_t>(n));
    }
    std::string reply;
    if (request.rfind("reload", 0) == 0) {
      auto loaded = reload();
      reply = loaded ? *loaded : "error " + loaded.error().message + "\n";
    } else if (request.rfind("stats", 0) == 0) {
      reply = stats();
    } else if (request.rfind("stop", 0) == 0) {
      log("stopping on request");
      reply = "ok\n";
      m_stop = true;
    } else {
      reply = "error unknown request\n";
    }
    (void)::send(client.fd, reply.data(), reply.size(), MSG_NOSIGNAL);
  }

  std::string stats() const {
    std::string out = "ok\n";
    for (const auto &[key, link] : m_links) {
      for (int side = 0; side < 2; ++side) {
        const auto &s = link->paths[static_cast<std::size_t>(side)].stats();
        out += fmt::format("{} {} received={} sent={} lost={} overflowed={} corrupted={} "
                           "duplicated={} reordered={}\n",
                           key, side == 0 ? "a_to_b" : "b_to_a", s.received, s.sent, s.lost,
                           s.overflowed, s.corrupted, s.duplicated, s.reordered);
      }
    }
    return out;
  }

  void port_error(Port &port, int error) {
    if (!port.failed) {
      log(fmt::format("{}: {}", port.name, std::strerror(error)));
      port.failed = true;
    }
  }

  /// Reads (and so clears) a receiving socket's pending error, such as the interface going
  /// away: epoll would report it again and again, and no read from the ring clears it.
  void take_error(Link &link, int side) {
    auto &port = link.ports[static_cast<std::size_t>(side)];
    int error = 0;
    socklen_t size = sizeof error;
    if (::getsockopt(port.rx.fd, SOL_SOCKET, SO_ERROR, &error, &size) == 0 && error != 0) {
      port_error(port, error);
    }
  }

  /// Adds a frame to the batch for `port`, sending the batch when it is full.
  void queue_frame(Port &port, const std::uint8_t *data, std::size_t size) {
    m_tx_iov[m_tx_count] = {const_cast<std::uint8_t *>(data), size};
    m_tx_headers[m_tx_count] = {};
    m_tx_headers[m_tx_count].msg_hdr.msg_iov = &m_tx_iov[m_tx_count];
    m_tx_headers[m_tx_count].msg_hdr.msg_iovlen = 1;
    if (++m_tx_count == k_batch) {
      flush(port);
    }
  }

  /// Sends the batch out of `port`. A frame the interface refuses is dropped, as a full queue
  /// drops it, and the rest still go.
  void flush(Port &port) {
    std::size_t done = 0;
    while (done < m_tx_count && port.tx.fd >= 0) {
      int n = ::sendmmsg(port.tx.fd, &m_tx_headers[done], static_cast<unsigned>(m_tx_count - done),
                         MSG_DONTWAIT);
      if (n > 0) {
        done += static_cast<std::size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0 && errno != EAGAIN && errno != ENOBUFS) {
        port_error(port, errno);
      }
      ++done;
    }
    m_tx_count = 0;
  }

  std::vector<std::uint8_t> take_buffer() {
    if (m_spare.empty()) {
      std::vector<std::uint8_t> buffer;
      buffer.reserve(k_slot_size);
      return buffer;
    }
    auto buffer = std::move(m_spare.back());
    m_spare.pop_back();
    return buffer;
  }

  void recycle(std::vector<std::uint8_t> &&buffer) {
    if (m_spare.size() < k_spare_buffers && buffer.capacity() <= k_slot_size) {
      m_spare.push_back(std::move(buffer));
    }
  }

  /// The frame in a filled slot, or nullopt when there is none to relay (a runt, or a frame too
  /// big for its slot that the kernel could not queue whole).
  std::optional<View> frame_in(Port &port, tpacket2_hdr &slot) {
    View view;
    if ((slot.tp_status & TP_STATUS_COPY) != 0) {
      auto copied = read_whole(port);
      if (!copied) {
        return std::nullopt;
      }
      view = *copied;
    } else if (slot.tp_snaplen < slot.tp_len || slot.tp_mac < k_slot_header + k_vnet) {
      return std::nullopt;
    } else {
      view.data = reinterpret_cast<std::uint8_t *>(&slot) + slot.tp_mac - k_vnet;
      view.size = k_vnet + slot.tp_snaplen;
      if ((slot.tp_status & TP_STATUS_VLAN_VALID) != 0) {
        std::uint16_t tpid =
            (slot.tp_status & TP_STATUS_VLAN_TPID_VALID) != 0 ? slot.tp_vlan_tpid : ETH_P_8021Q;
        if (slot.tp_mac < k_slot_header + k_vnet + 4) {
          // No room in the slot to put the tag back: the frame moves to the scratch buffer.
          std::memcpy(m_big.data() + 4, view.data, view.size);
          view.data = m_big.data() + 4;
          view.scratch = true;
        }
        insert_vlan(view.data, view.size, tpid, slot.tp_vlan_tci);
      }
    }
    if (view.size < k_vnet + ETH_HLEN) {
      return std::nullopt;
    }
    return view;
  }

  /// Reads the whole copy of a frame that did not fit in its slot, from the socket's queue.
  std::optional<View> read_whole(Port &port) {
    std::array<std::uint8_t, CMSG_SPACE(sizeof(tpacket_auxdata))> control{};
    // Room in front for a VLAN tag that the kernel lifted off.
    iovec iov{m_big.data() + 4, m_big.size() - 4};
    msghdr header{};
    header.msg_iov = &iov;
    header.msg_iovlen = 1;
    header.msg_control = control.data();
    header.msg_controllen = control.size();
    auto n = ::recvmsg(port.rx.fd, &header, MSG_DONTWAIT);
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR) {
        port_error(port, errno);
      }
      return std::nullopt;
    }
    View view{m_big.data() + 4, static_cast<std::size_t>(n), true};
    for (cmsghdr *cmsg = CMSG_FIRSTHDR(&header); cmsg != nullptr;
         cmsg = CMSG_NXTHDR(&header, cmsg)) {
      if (cmsg->cmsg_level != SOL_PACKET || cmsg->cmsg_type != PACKET_AUXDATA) {
        continue;
      }
      tpacket_auxdata aux{};
      std::memcpy(&aux, CMSG_DATA(cmsg), sizeof aux);
      if ((aux.tp_status & TP_STATUS_VLAN_VALID) != 0 && view.size >= k_vnet + ETH_HLEN) {
        std::uint16_t tpid =
            (aux.tp_status & TP_STATUS_VLAN_TPID_VALID) != 0 ? aux.tp_vlan_tpid : ETH_P_8021Q;
        insert_vlan(view.data, view.size, tpid, aux.tp_vlan_tci);
      }
    }
    return view;
  }

  /// Relays what arrived on one side: from the ring straight into the batch for the other side
  /// when the path holds nothing and does nothing, else into the path.
  void receive(Link &link, int side) {
    auto &in = link.ports[static_cast<std::size_t>(side)];
    auto &out = link.ports[static_cast<std::size_t>(1 - side)];
    auto &path = link.paths[static_cast<std::size_t>(side)];
    if (in.rx.fd < 0) {
      return;
    }
    for (std::size_t round = 0; round < k_rounds; ++round) {
      std::size_t taken = 0;
      std::int64_t now = 0;
      for (; taken < k_batch; ++taken) {
        auto *slot = in.ring.ready();
        if (slot == nullptr) {
          break;
        }
        m_taken[taken] = slot;
        in.ring.advance();
        auto view = frame_in(in, *slot);
        if (!view) {
          continue;
        }
        bool now_goes = path.idle() && path.impairment().empty();
        if (!now_goes && path.impairment().rate_bps != 0) {
          if (now == 0) {
            now = now_ns();
          }
          now_goes = path.pass(view->size - k_vnet, now); // a rate with tokens for it
        }
        if (now_goes) {
          queue_frame(out, view->data, view->size);
          if (view->scratch) {
            flush(out); // before the next big frame takes the scratch buffer
          }
          continue;
        }
        Frame held;
        held.bytes = take_buffer();
        held.bytes.assign(view->data, view->data + view->size);
        held.offset = static_cast<std::uint16_t>(k_vnet);
        if (path.impairment().corrupt_pct > 0) {
          finish_checksum(held.bytes.data(), held.bytes.size());
        }
        if (now == 0) {
          now = now_ns();
        }
        path.push(std::move(held), now);
      }
      flush(out);
      for (std::size_t i = 0; i < taken; ++i) {
        RxRing::release(m_taken[i]);
      }
      if (taken < k_batch) {
        return;
      }
    }
  }

  /// Puts back the 802.1Q tag the kernel lifted off: moves the virtio-net header and the MACs
  /// 4 bytes to the front (the caller leaves room) and writes the tag after the MACs.
  static void insert_vlan(std::uint8_t *&frame, std::size_t &size, std::uint16_t tpid,
                          std::uint16_t tci) {
    std::memmove(frame - 4, frame, k_vnet + 12);
    frame -= 4;
    size += 4;
    std::uint8_t *tag = frame + k_vnet + 12;
    tag[0] = static_cast<std::uint8_t>(tpid >> 8);
    tag[1] = static_cast<std::uint8_t>(tpid & 0xff);
    tag[2] = static_cast<std::uint8_t>(tci >> 8);
    tag[3] = static_cast<std::uint8_t>(tci & 0xff);
    auto *vnet = reinterpret_cast<VnetHeader *>(frame);
    if (vnet->flags & k_needs_csum) {
      vnet->csum_start = static_cast<std::uint16_t>(vnet->csum_start + 4);
    }
    if (vnet->gso_type != k_gso_none) {
      vnet->hdr_len = static_cast<std::uint16_t>(vnet->hdr_len + 4);
    }
  }

  /// Sends every frame that is due and sets the timer for the next one.
  void send_due() {
    auto now = now_ns();
    std::optional<std::int64_t> next;
    for (auto &[key, link] : m_links) {
      for (std::size_t side = 0; side < 2; ++side) {
        auto &path = link->paths[side];
        auto due = path.next_due();
        if (due && *due <= now) {
          m_out.clear();
          path.pop_due(now, m_out);
          auto &port = link->ports[1 - side];
          for (const auto &frame : m_out) {
            queue_frame(port, frame.bytes.data(), frame.bytes.size());
          }
          flush(port);
          for (auto &frame : m_out) {
            recycle(std::move(frame.bytes));
          }
          due = path.next_due();
        }
        if (due) {
          next = next ? std::min(*next, *due) : *due;
        }
      }
    }
    std::int64_t when = next ? std::max<std::int64_t>(*next, now + 1) : 0;
    if (when == m_armed) {
      return;
    }
    itimerspec spec{};
    spec.it_value.tv_sec = when / 1'000'000'000;
    spec.it_value.tv_nsec = when % 1'000'000'000;
    ::timerfd_settime(m_timer.fd, TFD_TIMER_ABSTIME, &spec, nullptr);
    m_armed = when;
  }

  std::string m_dir;
  Fd m_epoll;
  Fd m_timer;
  Fd m_signal;
  Fd m_control;
  Source m_control_source{SourceKind::control};
  Source m_timer_source{SourceKind::timer};
  Source m_signal_source{SourceKind::signal};
  std::map<std::string, std::unique_ptr<Link>> m_links;
  std::set<Link *> m_live;
  // The frames of one sendmmsg.
  std::array<mmsghdr, k_batch> m_tx_headers{};
  std::array<iovec, k_batch> m_tx_iov{};
  std::size_t m_tx_count = 0;
  std::array<tpacket2_hdr *, k_batch> m_taken{};  // ring slots read in this round
  std::vector<std::uint8_t> m_big;                // a frame too big for a slot
  std::vector<std::vector<std::uint8_t>> m_spare; // buffers for held frames
  std::vector<Frame> m_out;
  std::int64_t m_armed = 0; // when the timer goes off; 0: not set
  bool m_stop = false;
};

/// Tells the waiting parent how the start went, then closes the pipe.
void report(int fd, const std::string &text) {
  if (fd >= 0) {
    (void)::write(fd, text.data(), text.size());
    ::close(fd);
  }
}

} // namespace

Status relay_serve(const RelayServeOptions &options) {
  const auto &dir = options.lab_dir;
  if (int pid = relay_live_pid(dir); pid != 0) {
    return fail(fmt::format("the lab's relay already runs (pid {})", pid));
  }
  int ready = -1;
  if (!options.foreground) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
      return fail(fmt::format("cannot start the relay: {}", std::strerror(errno)));
    }
    std::fflush(nullptr);
    pid_t child = ::fork();
    if (child < 0) {
      return fail(fmt::format("cannot start the relay: {}", std::strerror(errno)));
    }
    if (child > 0) {
      // The parent waits for the daemon's word: "ok..." (its reload reply) or why it failed.
      ::close(pipe_fds[1]);
      std::string text;
      char buffer[4096];
      for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;) {
        text.append(buffer, static_cast<std::size_t>(n));
      }
      ::close(pipe_fds[0]);
      if (text.rfind("ok", 0) != 0) {
        return fail(text.empty() ? std::string("the relay exited before it was ready") : text);
      }
      std::fwrite(text.data(), 1, text.size(), stdout);
      return {};
    }
    ::close(pipe_fds[0]);
    ready = pipe_fds[1];
    ::setsid();
    // The caller reads our stdout and stderr to their end: they become the log.
    int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    int logfd = ::open(relay_file(dir, k_relay_log).c_str(),
                       O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (devnull >= 0) {
      ::dup2(devnull, 0);
      ::close(devnull);
    }
    if (logfd >= 0) {
      ::dup2(logfd, 1);
      ::dup2(logfd, 2);
      ::close(logfd);
    }
  }
  auto finish = [&](int code) {
    if (!options.foreground) {
      std::fflush(nullptr);
      ::_exit(code); // the daemon child never returns into the CLI
    }
  };
  if (auto written = write_text(relay_file(dir, k_relay_pid), fmt::format("{}\n", ::getpid()));
      !written) {
    report(ready, written.error().message);
    finish(1);
    return written;
  }
  Server server(dir);
  auto opened = server.open();
  if (!opened) {
    report(ready, opened.error().message);
    ::unlink(relay_file(dir, k_relay_pid).c_str());
    finish(1);
    return fail(opened.error());
  }
  log(fmt::format("relay started, pid {}", ::getpid()));
  if (ready >= 0) {
    report(ready, *opened);
  } else {
    std::fwrite(opened->data(), 1, opened->size(), stdout);
    std::fflush(stdout);
  }
  server.run();
  ::unlink(relay_file(dir, k_relay_sock).c_str());
  ::unlink(relay_file(dir, k_relay_pid).c_str());
  log("relay stopped");
  finish(0);
  return {};
}

} // namespace ltb::net
