#pragma once
// Live packet capture with libpcap on one interface in any network namespace, written out as a
// pcap stream that a reader (wireshark -k -i -, tcpdump -r -) sees as the packets arrive.

#include "util/error.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

struct pcap;

namespace ltb::capture {

struct LiveOptions {
  std::string iface;
  int netns_fd = -1;  // the namespace that holds `iface`; -1 = ltb's own
  std::string where;  // for messages: "r1:eth1", "host interface lv1a2b3c4d5e6f"
  std::string filter; // pcap-filter(7) expression; "" = every packet
  int snaplen = 262144;
  int buffer_bytes = 8 << 20; // the kernel's ring for this capture
  // The longest a packet waits in the kernel before ltb writes it. Not libpcap's immediate mode:
  // that falls back to a ring of fixed-size frames, which on an interface with offloads (any
  // veth) are 256 KiB each, so that an 8 MiB ring holds 32 packets and drops at a few thousand
  // packets per second. Blocks that are handed over when full or after this long hold thousands.
  int latency_ms = 20;
};

/// An activated libpcap handle. Its socket was opened inside the interface's namespace and stays
/// bound there, whichever thread reads it.
class LiveCapture {
public:
  /// `no_device` (optional) is set when the interface does not exist there.
  static Result<LiveCapture> open(const LiveOptions &options, bool *no_device = nullptr);
  const std::string &where() const { return m_where; }
  pcap *handle() const { return m_handle.get(); }

private:
  struct Closer {
    void operator()(pcap *handle) const noexcept;
  };
  LiveCapture(pcap *handle, std::string where) : m_handle(handle), m_where(std::move(where)) {}
  std::unique_ptr<pcap, Closer> m_handle;
  std::string m_where;
};

enum class End {
  count,         // COUNT packets written
  stopped,       // *stop became true (Ctrl-C, SIGTERM)
  reader_closed, // the pipe's reader went away (EPIPE)
  source_gone,   // the interface disappeared, or source_alive() said so
  write_failed,  // the output could not be written (disk full, ...)
};

struct WriteOptions {
  std::string path;        // "" or "-" = standard output
  std::uint64_t count = 0; // stop after this many packets; 0 = no limit
  const std::atomic<bool> *stop = nullptr;
  std::function<bool()> source_alive; // asked about once a second while idle; false ends it
};

struct WriteResult {
  End end = End::stopped;
  std::string reason; // source_gone and write_failed: what happened
  std::uint64_t written = 0;
  std::uint64_t dropped = 0;    // by the kernel, its ring being full (pcap_stats ps_drop)
  std::uint64_t if_dropped = 0; // by the interface (ps_ifdrop)
};

/// Writes the pcap header and then each packet as it comes, flushing every batch (a batch is what
/// arrived while the previous one was written, so a reader never waits for a packet that ltb
/// has). Stops as WriteResult::end says. Fails only when the output cannot be opened.
Result<WriteResult> write_packets(LiveCapture &capture, const WriteOptions &options);

} // namespace ltb::capture
