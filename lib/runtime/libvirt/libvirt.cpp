#include "runtime/libvirt/libvirt.hpp"

#include "util/exec.hpp"
#include "util/xml.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <mutex>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <thread>
#include <unistd.h>

namespace ltb::runtime {
namespace {

struct ConnectDeleter {
  void operator()(virConnectPtr conn) const noexcept { virConnectClose(conn); }
};
using ConnectPtr = std::unique_ptr<virConnect, ConnectDeleter>;

struct DomainDeleter {
  void operator()(virDomainPtr dom) const noexcept { virDomainFree(dom); }
};
using DomainPtr = std::unique_ptr<virDomain, DomainDeleter>;

struct StreamDeleter {
  void operator()(virStreamPtr stream) const noexcept { virStreamFree(stream); }
};
using StreamPtr = std::unique_ptr<virStream, StreamDeleter>;

// Strings and arrays that libvirt allocates for the caller to free().
struct FreeDeleter {
  void operator()(void *p) const noexcept { std::free(p); }
};
using CString = std::unique_ptr<char, FreeDeleter>;
using DomainArray = std::unique_ptr<virDomainPtr, FreeDeleter>;

const char *const k_start_help = "start it: virtlogd -d && libvirtd -d (or make setup)";

// libvirt prints every error to stderr unless a handler is installed; ltb reports errors itself.
void ignore_error(void *, virErrorPtr) {}

void init_libvirt() {
  static std::once_flag once;
  std::call_once(once, [] {
    virInitialize();
    virSetErrorFunc(nullptr, ignore_error);
    // An event loop is needed for console streams (without one nothing reads libvirtd's socket
    // between calls, so a non-blocking stream never receives data). Once one is registered,
    // connections opened afterwards use keepalive, and libvirtd drops a client that does not
    // answer within about 30 s: so the loop must run all the time, in its own thread.
    virEventRegisterDefaultImpl();
    std::thread([] {
      while (true) {
        if (virEventRunDefaultImpl() < 0) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
      }
    }).detach();
    // libvirt writes to its socket without MSG_NOSIGNAL: when libvirtd goes away, the default
    // SIGPIPE would end ltb silently (exit 141) instead of giving a "lost connection" error.
    struct sigaction current {};
    if (::sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
      ::signal(SIGPIPE, SIG_IGN);
    }
  });
}

// The calling thread's last libvirt error, on one line.
std::string last_message() {
  const virError *err = virGetLastError();
  std::string msg =
      err != nullptr && err->message != nullptr ? err->message : "unknown libvirt error";
  std::replace(msg.begin(), msg.end(), '\n', ' ');
  while (!msg.empty() && msg.back() == ' ') {
    msg.pop_back();
  }
  return msg;
}

int last_code() {
  return virGetLastErrorCode();
}

std::string version_text(unsigned long version) {
  return fmt::format("{}.{}.{}", version / 1000000, (version / 1000) % 1000, version % 1000);
}

std::string state_name(int state) {
  switch (state) {
  case VIR_DOMAIN_RUNNING:
    return "running";
  case VIR_DOMAIN_BLOCKED:
    return "blocked";
  case VIR_DOMAIN_PAUSED:
    return "paused";
  case VIR_DOMAIN_SHUTDOWN:
    return "shutdown";
  case VIR_DOMAIN_SHUTOFF:
    return "shutoff";
  case VIR_DOMAIN_CRASHED:
    return "crashed";
  case VIR_DOMAIN_PMSUSPENDED:
    return "pmsuspended";
  default:
    return "nostate";
  }
}

bool write_all(int fd, const char *data, std::size_t size) {
  while (size > 0) {
    const auto n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        pollfd pfd{fd, POLLOUT, 0};
        ::poll(&pfd, 1, 1000);
        continue;
      }
      return false;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// State shared between console() and the callbacks, which run on the event-loop thread. Every
// callback holds `mutex` for its whole body and does nothing once `quit` is set; console() sets it
// before it frees the stream, so no callback touches a freed stream.
struct ConsoleSession {
  std::mutex mutex;
  std::condition_variable done;
  virStreamPtr stream = nullptr;
  int out_fd = -1;
  char escape = 0x1d;
  std::string to_guest; // terminal input not yet accepted by the stream
  bool quit = false;
  bool eof = false; // the console closed on its side
  std::string error;

  void finish() {
    quit = true;
    done.notify_all();
  }

  void update_stream_events() {
    int events = VIR_STREAM_EVENT_READABLE | VIR_STREAM_EVENT_ERROR | VIR_STREAM_EVENT_HANGUP;
    if (!to_guest.empty()) {
      events |= VIR_STREAM_EVENT_WRITABLE;
    }
    virStreamEventUpdateCallback(stream, events);
  }
};

// libvirt frees a callback's opaque pointer only once the callback can no longer run, so each
// registration holds its own reference to the session.
using SessionRef = std::shared_ptr<ConsoleSession>;
void release_session(void *opaque) {
  delete static_cast<SessionRef *>(opaque);
}
ConsoleSession &session_of(void *opaque) {
  return **static_cast<SessionRef *>(opaque);
}

void on_stream_event(virStreamPtr stream, int events, void *opaque) {
  auto &s = session_of(opaque);
  const std::lock_guard lock(s.mutex);
  if (s.quit) {
    return;
  }
  if ((events & VIR_STREAM_EVENT_READABLE) != 0) {
    std::array<char, 4096> buf{};
    while (true) {
      const int n = virStreamRecv(stream, buf.data(), buf.size());
      if (n == -2) {
        break;
      }
      if (n == 0) {
        s.eof = true;
        s.finish();
        return;
      }
      if (n < 0) {
        s.error = last_message();
        s.finish();
        return;
      }
      if (!write_all(s.out_fd, buf.data(), static_cast<std::size_t>(n))) {
        s.error = fmt::format("cannot write to the terminal: {}", std::strerror(errno));
        s.finish();
        return;
      }
    }
  }
  if ((events & VIR_STREAM_EVENT_WRITABLE) != 0 && !s.to_guest.empty()) {
    const int n = virStreamSend(stream, s.to_guest.data(), s.to_guest.size());
    if (n < 0 && n != -2) {
      s.error = last_message();
      s.finish();
      return;
    }
    if (n > 0) {
      s.to_guest.erase(0, static_cast<std::size_t>(n));
    }
    s.update_stream_events();
  }
  if ((events & (VIR_STREAM_EVENT_ERROR | VIR_STREAM_EVENT_HANGUP)) != 0) {
    s.eof = true;
    s.finish();
  }
}

void on_terminal_event(int /*watch*/, int fd, int events, void *opaque) {
  auto &s = session_of(opaque);
  const std::lock_guard lock(s.mutex);
  if (s.quit) {
    return;
  }
  if ((events & VIR_EVENT_HANDLE_READABLE) != 0) {
    std::array<char, 1024> buf{};
    const auto n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
      return;
    }
    if (n <= 0) {
      s.finish(); // the terminal went away or its input ended
      return;
    }
    const std::string_view input(buf.data(), static_cast<std::size_t>(n));
    const auto at = input.find(s.escape);
    s.to_guest.append(input.substr(0, at));
    if (at != std::string_view::npos) {
      s.finish();
      return;
    }
    s.update_stream_events();
    return;
  }
  if ((events & (VIR_EVENT_HANDLE_ERROR | VIR_EVENT_HANDLE_HANGUP)) != 0) {
    s.finish();
  }
}

/// One record of virConnectGetAllDomainStats as VmStats; a figure libvirt did not give is 0.
VmStats stats_of(virDomainPtr dom, virTypedParameterPtr params, int count) {
  auto number = [&](const std::string &key) {
    unsigned long long value = 0;
    return virTypedParamsGetULLong(params, count, key.c_str(), &value) == 1
               ? static_cast<std::int64_t>(value)
               : std::int64_t{0};
  };
  auto counter = [&](const char *key) {
    unsigned int value = 0;
    return virTypedParamsGetUInt(params, count, key, &value) == 1 ? value : 0U;
  };
  VmStats stats;
  const char *name = virDomainGetName(dom);
  stats.name = name != nullptr ? name : "";
  int state = 0;
  if (virTypedParamsGetInt(params, count, "state.state", &state) == 1) {
    stats.state = state_name(state);
  }
  stats.cpu_time_ns = number("cpu.time");
  stats.rss_bytes = number("balloon.rss") * 1024; // KiB
  for (unsigned int n = 0; n < counter("net.count"); ++n) {
    const auto prefix = fmt::format("net.{}.", n);
    const char *iface = nullptr;
    if (virTypedParamsGetString(params, count, (prefix + "name").c_str(), &iface) != 1) {
      continue;
    }
    stats.interfaces.push_back({iface, number(prefix + "rx.bytes"), number(prefix + "tx.bytes")});
  }
  for (unsigned int n = 0; n < counter("block.count"); ++n) {
    stats.disk_allocation_bytes += number(fmt::format("block.{}.allocation", n));
  }
  return stats;
}

class LibvirtRuntime final : public VmRuntime {
public:
  LibvirtRuntime(std::string uri, ConnectPtr conn)
      : m_uri(std::move(uri)), m_conn(std::move(conn)) {}

  Result<std::string> version() override {
    unsigned long lib = 0;
    unsigned long hv = 0;
    virConnectPtr c = conn();
    if (virConnectGetLibVersion(c, &lib) < 0 || virConnectGetVersion(c, &hv) < 0) {
      return failure(fmt::format("cannot read the libvirt version ({}): {}", m_uri, last_message()),
                     k_start_help);
    }
    const char *type = virConnectGetType(c);
    return fmt::format("libvirt {}, {} {}", version_text(lib),
                       type != nullptr ? type : "hypervisor", version_text(hv));
  }

  Result<bool> kvm_usable() override {
    virConnectPtr c = conn();
    const CString caps{virConnectGetDomainCapabilities(c, nullptr, nullptr, nullptr, "kvm", 0)};
    if (!caps) {
      // libvirt refuses the kvm type when the host lacks it (or the driver has no such notion);
      // that is an answer, unless the connection itself is gone.
      const std::string msg = last_message(); // virConnectIsAlive resets it
      if (virConnectIsAlive(c) != 1) {
        return fail(fmt::format("lost the connection to libvirt ({}): {}", m_uri, msg),
                    k_start_help);
      }
      return false;
    }
    if (std::strstr(caps.get(), "<domain>kvm</domain>") == nullptr) {
      return false;
    }
    const int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      return false;
    }
    ::close(fd);
    return true;
  }

  Result<std::vector<VmInfo>> list(const std::map<std::string, std::string> &metadata) override {
    virDomainPtr *raw = nullptr;
    const int count = virConnectListAllDomains(conn(), &raw, 0);
    if (count < 0) {
      return failure(fmt::format("cannot list VMs in libvirt ({}): {}", m_uri, last_message()),
                     k_start_help);
    }
    // Own every handle before anything can return early.
    const DomainArray array{raw};
    std::vector<DomainPtr> domains;
    domains.reserve(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) {
      domains.emplace_back(raw[i]);
    }

    std::vector<VmInfo> out;
    for (const auto &dom : domains) {
      int code = VIR_ERR_OK;
      auto labels = read_metadata(dom.get(), &code);
      if (!labels) {
        if (code == VIR_ERR_NO_DOMAIN) {
          continue; // went away while listing
        }
        return failure(labels.error());
      }
      const bool match = std::all_of(metadata.begin(), metadata.end(), [&](const auto &kv) {
        const auto it = labels->find(kv.first);
        return it != labels->end() && it->second == kv.second;
      });
      if (!match) {
        continue;
      }
      auto info = info_of(dom.get(), &code);
      if (!info) {
        if (code == VIR_ERR_NO_DOMAIN) {
          continue;
        }
        return failure(info.error());
      }
      out.push_back(std::move(*info));
    }
    std::sort(out.begin(), out.end(),
              [](const VmInfo &a, const VmInfo &b) { return a.name < b.name; });
    return out;
  }

  Result<VmInfo> create(const VmSpec &spec) override {
    const auto xml = domain_xml(spec);
    DomainPtr dom{virDomainCreateXML(conn(), xml.c_str(), 0)};
    if (!dom) {
      std::string help = fmt::format("see `virsh -c {} list --all` for a VM of that name", m_uri);
      if (m_uri.rfind("qemu", 0) == 0) {
        help = fmt::format("QEMU's own log: /var/log/libvirt/qemu/{}.log", spec.name);
      }
      return failure(fmt::format("cannot create VM '{}': {}", spec.name, last_message()), help);
    }
    int code = VIR_ERR_OK;
    return info_of(dom.get(), &code);
  }

  Status destroy(const std::string &name) override {
    DomainPtr dom{virDomainLookupByName(conn(), name.c_str())};
    if (!dom) {
      if (last_code() == VIR_ERR_NO_DOMAIN) {
        return {};
      }
      return failure(fmt::format("cannot remove VM '{}': {}", name, last_message()), k_start_help);
    }
    if (virDomainIsActive(dom.get()) == 1 && virDomainDestroy(dom.get()) < 0) {
      const int code = last_code();
      // A transient domain that stopped meanwhile is gone; a persistent one is just inactive.
      if (code != VIR_ERR_NO_DOMAIN && code != VIR_ERR_OPERATION_INVALID) {
        return failure(fmt::format("cannot stop VM '{}': {}", name, last_message()),
                       fmt::format("try `virsh -c {} destroy {}`", m_uri, name));
      }
    }
    if (virDomainIsPersistent(dom.get()) == 1 &&
        virDomainUndefineFlags(dom.get(), VIR_DOMAIN_UNDEFINE_MANAGED_SAVE |
                                              VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA) < 0 &&
        last_code() != VIR_ERR_NO_DOMAIN) {
      return failure(fmt::format("cannot undefine VM '{}': {}", name, last_message()),
                     fmt::format("try `virsh -c {} undefine {}`", m_uri, name));
    }
    return {};
  }

  Status shutdown(const std::string &name, int timeout_seconds) override {
    LTB_TRY(dom, lookup(name));
    if (virDomainIsActive(dom.get()) != 1) {
      return {};
    }
    if (virDomainIsPersistent(dom.get()) != 1) {
      // Defining the running transient domain's own XML makes it persistent: it stays in
      // libvirt, shut off, once its guest powers off.
      const CString xml{virDomainGetXMLDesc(dom.get(), VIR_DOMAIN_XML_INACTIVE)};
      DomainPtr defined{xml ? virDomainDefineXML(conn(), xml.get()) : nullptr};
      if (!defined) {
        return failure(fmt::format("cannot keep VM '{}' for a restart: {}", name, last_message()),
                       fmt::format("see `virsh -c {} dumpxml {}`", m_uri, name));
      }
    }
    if (virDomainShutdown(dom.get()) < 0 && virDomainIsActive(dom.get()) == 1) {
      // No ACPI in the guest (or it refused): the timeout ends it below.
      (void)last_message();
    }
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(std::max(timeout_seconds, 0));
    while (virDomainIsActive(dom.get()) == 1 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (virDomainIsActive(dom.get()) == 1 && virDomainDestroy(dom.get()) < 0 &&
        virDomainIsActive(dom.get()) == 1) {
      return failure(fmt::format("cannot stop VM '{}': {}", name, last_message()),
                     fmt::format("try `virsh -c {} destroy {}`", m_uri, name));
    }
    return {};
  }

  Status start(const std::string &name) override {
    LTB_TRY(dom, lookup(name));
    if (virDomainIsActive(dom.get()) == 1) {
      return {};
    }
    if (virDomainCreate(dom.get()) < 0) {
      std::string help = fmt::format("see `virsh -c {} start {}`", m_uri, name);
      if (m_uri.rfind("qemu", 0) == 0) {
        help = fmt::format("QEMU's own log: /var/log/libvirt/qemu/{}.log", name);
      }
      return failure(fmt::format("cannot start VM '{}': {}", name, last_message()), help);
    }
    return {};
  }

  Result<VmInfo> info(const std::string &name) override {
    LTB_TRY(dom, lookup(name));
    int code = VIR_ERR_OK;
    return info_of(dom.get(), &code);
  }

  Status suspend(const std::string &name) override {
    LTB_TRY(dom, lookup(name));
    int state = 0;
    if (virDomainGetState(dom.get(), &state, nullptr, 0) == 0 && state == VIR_DOMAIN_PAUSED) {
      return {};
    }
    if (virDomainSuspend(dom.get()) < 0) {
      return failure(fmt::format("cannot pause VM '{}': {}", name, last_message()),
                     fmt::format("see `virsh -c {} domstate {}`", m_uri, name));
    }
    return {};
  }

  Status resume(const std::string &name) override {
    LTB_TRY(dom, lookup(name));
    int state = 0;
    if (virDomainGetState(dom.get(), &state, nullptr, 0) == 0 && state != VIR_DOMAIN_PAUSED) {
      return {};
    }
    if (virDomainResume(dom.get()) < 0) {
      return failure(fmt::format("cannot resume VM '{}': {}", name, last_message()),
                     fmt::format("try `virsh -c {} resume {}`", m_uri, name));
    }
    return {};
  }

  Result<std::string> disk_path(const std::string &name) override {
    LTB_TRY(dom, lookup(name));
    const CString xml{virDomainGetXMLDesc(dom.get(), 0)};
    if (!xml) {
      return failure(
          fmt::format("cannot read the definition of VM '{}': {}", name, last_message()));
    }
    return disk_source(xml.get());
  }

  Status snapshot(const std::string &name, const VmSnapshotSpec &spec) override {
    LTB_TRY(dom, lookup(name));
    std::string xml = "<domainsnapshot>\n";
    if (!spec.memory_file.empty()) {
      xml += fmt::format("  <memory snapshot='external' file='{}'/>\n",
                         util::xml_escape(spec.memory_file));
    } else {
      xml += "  <memory snapshot='no'/>\n";
    }
    if (!spec.disk_target.empty()) {
      xml += fmt::format("  <disks><disk name='{}' snapshot='external' type='file'><source "
                         "file='{}'/></disk></disks>\n",
                         util::xml_escape(spec.disk_target), util::xml_escape(spec.overlay));
    }
    xml += "</domainsnapshot>\n";
    // REUSE_EXT: the overlay is the caller's (it names the frozen layer as its backing file);
    // NO_METADATA: libvirt keeps no snapshot object, which it could not revert anyway.
    unsigned flags = VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA | VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC;
    if (!spec.disk_target.empty()) {
      flags |= VIR_DOMAIN_SNAPSHOT_CREATE_REUSE_EXT;
    }
    if (spec.memory_file.empty()) {
      flags |= VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY;
    }
    virDomainSnapshotPtr made = virDomainSnapshotCreateXML(dom.get(), xml.c_str(), flags);
    if (made == nullptr) {
      return failure(fmt::format("cannot snapshot VM '{}': {}", name, last_message()),
                     fmt::format("QEMU's own log: /var/log/libvirt/qemu/{}.log", name));
    }
    virDomainSnapshotFree(made);
    return {};
  }

  Result<VmInfo> restore(const std::string &memory_file, const std::string &saved_disk,
                         const std::string &disk,
                         const std::map<std::string, std::string> &metadata) override {
    const CString saved{virDomainSaveImageGetXMLDesc(conn(), memory_file.c_str(), 0)};
    if (!saved) {
      return failure(
          fmt::format("cannot read the saved VM state {}: {}", memory_file, last_message()),
          "the snapshot's memory file is damaged or missing: restore it without memory "
          "by removing and taking the snapshot again");
    }
    const auto xml = replace_disk_source(saved.get(), saved_disk, disk);
    if (virDomainRestoreFlags(conn(), memory_file.c_str(), xml.c_str(), VIR_DOMAIN_SAVE_RUNNING) <
        0) {
      return failure(fmt::format("cannot restore a VM from {}: {}", memory_file, last_message()),
                     "QEMU's own logs: /var/log/libvirt/qemu/");
    }
    const auto name = domain_name_of(xml);
    LTB_TRY(dom, lookup(name));
    const auto labels = metadata_xml(metadata);
    if (virDomainSetMetadata(dom.get(), VIR_DOMAIN_METADATA_ELEMENT, labels.c_str(), "ltb",
                             k_metadata_ns, VIR_DOMAIN_AFFECT_LIVE) < 0) {
      return failure(fmt::format("cannot label the restored VM '{}': {}", name, last_message()));
    }
    int code = VIR_ERR_OK;
    return info_of(dom.get(), &code);
  }

  Result<std::vector<VmStats>> domain_stats() override {
    virDomainStatsRecordPtr *records = nullptr;
    const unsigned int kinds = VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_CPU_TOTAL |
                               VIR_DOMAIN_STATS_BALLOON | VIR_DOMAIN_STATS_INTERFACE |
                               VIR_DOMAIN_STATS_BLOCK;
    const int count = virConnectGetAllDomainStats(conn(), kinds, &records, 0);
    if (count < 0) {
      return failure(
          fmt::format("cannot read VM statistics from libvirt ({}): {}", m_uri, last_message()),
          k_start_help);
    }
    std::vector<VmStats> out;
    for (int i = 0; i < count; ++i) {
      const auto *record = records[i];
      out.push_back(stats_of(record->dom, record->params, record->nparams));
    }
    virDomainStatsRecordListFree(records);
    std::sort(out.begin(), out.end(),
              [](const VmStats &a, const VmStats &b) { return a.name < b.name; });
    return out;
  }

  Status console(const std::string &name, int in_fd, int out_fd, char escape) override {
    LTB_TRY(dom, lookup(name));
    StreamPtr stream{virStreamNew(conn(), VIR_STREAM_NONBLOCK)};
    if (!stream || virDomainOpenConsole(dom.get(), nullptr, stream.get(), 0) < 0) {
      const std::string msg = last_message();
      std::string help = fmt::format("is VM '{}' running? `virsh -c {} list`", name, m_uri);
      if (last_code() == VIR_ERR_NO_SUPPORT) {
        help = fmt::format("the libvirt driver of {} has no consoles", m_uri);
      } else if (msg.find("Active console session") != std::string::npos) {
        help = "another console is attached to it; close that one first";
      }
      return failure(fmt::format("cannot open the console of VM '{}': {}", name, msg), help);
    }

    auto session = std::make_shared<ConsoleSession>();
    session->stream = stream.get();
    session->out_fd = out_fd;
    session->escape = escape;
    if (virStreamEventAddCallback(stream.get(),
                                  VIR_STREAM_EVENT_READABLE | VIR_STREAM_EVENT_ERROR |
                                      VIR_STREAM_EVENT_HANGUP,
                                  on_stream_event, new SessionRef(session), release_session) < 0) {
      const std::string msg = last_message();
      virStreamAbort(stream.get());
      return failure(fmt::format("cannot watch the console of VM '{}': {}", name, msg));
    }
    const int watch = virEventAddHandle(in_fd, VIR_EVENT_HANDLE_READABLE, on_terminal_event,
                                        new SessionRef(session), release_session);
    if (watch < 0) {
      virStreamEventRemoveCallback(stream.get());
      virStreamAbort(stream.get());
      return failure(fmt::format("cannot watch the terminal for the console of VM '{}'", name));
    }

    std::unique_lock lock(session->mutex);
    session->done.wait(lock, [&] { return session->quit; });
    session->stream = nullptr; // callbacks still in flight see quit and leave the stream alone
    const bool eof = session->eof;
    const std::string error = session->error;
    lock.unlock();

    virEventRemoveHandle(watch);
    virStreamEventRemoveCallback(stream.get());
    if (eof) {
      virStreamFinish(stream.get());
    } else {
      virStreamAbort(stream.get());
    }
    if (!error.empty()) {
      return failure(fmt::format("console of VM '{}' failed: {}", name, error));
    }
    return {};
  }

private:
  Result<DomainPtr> lookup(const std::string &name) {
    DomainPtr dom{virDomainLookupByName(conn(), name.c_str())};
    if (!dom) {
      if (last_code() == VIR_ERR_NO_DOMAIN) {
        return failure(
            fmt::format("VM '{}' does not exist in libvirt ({}): {}", name, m_uri, last_message()),
            fmt::format("list VMs: virsh -c {} list --all", m_uri));
      }
      return failure(fmt::format("cannot look up VM '{}': {}", name, last_message()), k_start_help);
    }
    return dom;
  }

  // The ltb labels of a domain; empty when it carries none (not an ltb VM).
  Result<std::map<std::string, std::string>> read_metadata(virDomainPtr dom, int *code) {
    const CString xml{virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, k_metadata_ns,
                                           VIR_DOMAIN_AFFECT_CURRENT)};
    if (!xml) {
      *code = last_code();
      if (*code == VIR_ERR_NO_DOMAIN_METADATA) {
        return std::map<std::string, std::string>{};
      }
      return failure(
          fmt::format("cannot read the metadata of VM '{}': {}", domain_name(dom), last_message()));
    }
    return parse_metadata_labels(xml.get());
  }

  Result<VmInfo> info_of(virDomainPtr dom, int *code) {
    VmInfo info;
    info.name = domain_name(dom);
    std::array<char, VIR_UUID_STRING_BUFLEN> uuid{};
    virDomainInfo raw{};
    if (virDomainGetUUIDString(dom, uuid.data()) < 0 || virDomainGetInfo(dom, &raw) < 0) {
      *code = last_code();
      return failure(
          fmt::format("cannot read the state of VM '{}': {}", info.name, last_message()));
    }
    info.uuid = uuid.data();
    info.state = state_name(raw.state);
    info.vcpus = raw.nrVirtCpu;
    info.memory_mib = static_cast<std::int64_t>(raw.maxMem / 1024);
    const int persistent = virDomainIsPersistent(dom);
    if (persistent < 0) {
      *code = last_code();
      return failure(
          fmt::format("cannot read the state of VM '{}': {}", info.name, last_message()));
    }
    info.persistent = persistent == 1;
    LTB_TRY(labels, read_metadata(dom, code));
    info.metadata = std::move(labels);
    return info;
  }

  static std::string domain_name(virDomainPtr dom) {
    const char *name = virDomainGetName(dom);
    return name != nullptr ? name : "?";
  }

  /// A failed call's error; when the connection is what failed (libvirtd stopped, or restarted
  /// during the call), it says so and what to do instead of the call's own help.
  tl::unexpected<Error> failure(std::string message, std::string help = {},
                                ExitCode code = ExitCode::failed) {
    std::lock_guard lock(m_mutex);
    if (virConnectIsAlive(m_conn.get()) != 1) {
      return fail(message + " (the connection to libvirtd is lost: it stopped or restarted)",
                  "check that libvirtd runs (virsh -c qemu:///system version; to start it: "
                  "virtlogd -d && libvirtd -d, or make setup), then run the command again",
                  code);
    }
    return fail(std::move(message), std::move(help), code);
  }
  tl::unexpected<Error> failure(Error error) {
    return failure(std::move(error.message), std::move(error.help), error.code);
  }

  /// The connection, opened again first when libvirt says it is dead (libvirtd was restarted
  /// since the last call, or went away and is back): a long `ltb up` or the daemon goes on
  /// instead of failing every later call with "lost the connection". While libvirtd does not
  /// answer the dead one stays, and the call fails with libvirt's error and k_start_help.
  virConnectPtr conn() {
    std::lock_guard lock(m_mutex);
    if (virConnectIsAlive(m_conn.get()) != 1) {
      if (ConnectPtr fresh{virConnectOpen(m_uri.c_str())}) {
        // Another thread may be in a call on the old one: it is closed with the runtime.
        m_retired.push_back(std::move(m_conn));
        m_conn = std::move(fresh);
      }
    }
    return m_conn.get();
  }

  std::string m_uri;
  std::mutex m_mutex; // m_conn's replacement
  ConnectPtr m_conn;
  std::vector<ConnectPtr> m_retired;
};

} // namespace

Result<std::unique_ptr<VmRuntime>> connect_libvirt(const std::string &uri) {
  init_libvirt();
  ConnectPtr conn{virConnectOpen(uri.c_str())};
  if (!conn) {
    return fail(fmt::format("cannot connect to libvirt ({}): {}", uri, last_message()),
                k_start_help);
  }
  return std::make_unique<LibvirtRuntime>(uri, std::move(conn));
}

std::string vm_event_name(int event) {
  switch (event) {
  case VIR_DOMAIN_EVENT_DEFINED:
    return "defined";
  case VIR_DOMAIN_EVENT_UNDEFINED:
    return "undefined";
  case VIR_DOMAIN_EVENT_STARTED:
    return "started";
  case VIR_DOMAIN_EVENT_SUSPENDED:
    return "suspended";
  case VIR_DOMAIN_EVENT_RESUMED:
    return "resumed";
  case VIR_DOMAIN_EVENT_STOPPED:
    return "stopped";
  case VIR_DOMAIN_EVENT_SHUTDOWN:
    return "shutdown";
  case VIR_DOMAIN_EVENT_PMSUSPENDED:
    return "pmsuspended";
  case VIR_DOMAIN_EVENT_CRASHED:
    return "crashed";
  default:
    return fmt::format("event-{}", event);
  }
}

std::string vm_event_detail(int event, int detail) {
  switch (event) {
  case VIR_DOMAIN_EVENT_STARTED:
    switch (detail) {
    case VIR_DOMAIN_EVENT_STARTED_BOOTED:
      return "booted";
    case VIR_DOMAIN_EVENT_STARTED_MIGRATED:
      return "migrated";
    case VIR_DOMAIN_EVENT_STARTED_RESTORED:
      return "restored";
    case VIR_DOMAIN_EVENT_STARTED_FROM_SNAPSHOT:
      return "from-snapshot";
    case VIR_DOMAIN_EVENT_STARTED_WAKEUP:
      return "wakeup";
    default:
      return "";
    }
  case VIR_DOMAIN_EVENT_STOPPED:
    switch (detail) {
    case VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN:
      return "shutdown";
    case VIR_DOMAIN_EVENT_STOPPED_DESTROYED:
      return "destroyed";
    case VIR_DOMAIN_EVENT_STOPPED_CRASHED:
      return "crashed";
    case VIR_DOMAIN_EVENT_STOPPED_MIGRATED:
      return "migrated";
    case VIR_DOMAIN_EVENT_STOPPED_SAVED:
      return "saved";
    case VIR_DOMAIN_EVENT_STOPPED_FAILED:
      return "failed";
    case VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT:
      return "from-snapshot";
    default:
      return "";
    }
  case VIR_DOMAIN_EVENT_SHUTDOWN:
    switch (detail) {
    case VIR_DOMAIN_EVENT_SHUTDOWN_FINISHED:
      return "finished";
    case VIR_DOMAIN_EVENT_SHUTDOWN_GUEST:
      return "guest";
    case VIR_DOMAIN_EVENT_SHUTDOWN_HOST:
      return "host";
    default:
      return "";
    }
  case VIR_DOMAIN_EVENT_CRASHED:
    switch (detail) {
    case VIR_DOMAIN_EVENT_CRASHED_PANICKED:
      return "panicked";
    case VIR_DOMAIN_EVENT_CRASHED_CRASHLOADED:
      return "crashloaded";
    default:
      return "";
    }
  default:
    return "";
  }
}

namespace {

// The ltb metadata of a domain; empty when it has none or cannot be read (gone meanwhile).
std::map<std::string, std::string> metadata_of(virDomainPtr dom) {
  const CString xml{virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT, k_metadata_ns,
                                         VIR_DOMAIN_AFFECT_CURRENT)};
  return xml ? parse_metadata_labels(xml.get()) : std::map<std::string, std::string>{};
}

bool has_all(const std::map<std::string, std::string> &metadata,
             const std::map<std::string, std::string> &wanted) {
  return std::all_of(wanted.begin(), wanted.end(), [&](const auto &kv) {
    auto it = metadata.find(kv.first);
    return it != metadata.end() && (kv.second.empty() || it->second == kv.second);
  });
}

std::int64_t unix_now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// What libvirt's event thread hands to a watch. Shared with the callback's registration, which
/// may outlive the watch by a callback in flight: libvirt frees its reference (freecb) when done.
struct EventQueue {
  struct Raw {
    std::int64_t time_ns = 0;
    std::string name;
    std::string uuid;
    int event = 0;
    int detail = 0;
  };
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<Raw> raws;
};

int on_lifecycle(virConnectPtr, virDomainPtr dom, int event, int detail, void *opaque) {
  auto &queue = **static_cast<std::shared_ptr<EventQueue> *>(opaque);
  EventQueue::Raw raw;
  raw.time_ns = unix_now_ns();
  const char *name = virDomainGetName(dom);
  raw.name = name != nullptr ? name : "";
  std::array<char, VIR_UUID_STRING_BUFLEN> uuid{};
  if (virDomainGetUUIDString(dom, uuid.data()) == 0) {
    raw.uuid = uuid.data();
  }
  raw.event = event;
  raw.detail = detail;
  {
    std::lock_guard lock(queue.mutex);
    queue.raws.push_back(std::move(raw));
  }
  queue.changed.notify_one();
  return 0;
}

void release_queue(void *opaque) {
  delete static_cast<std::shared_ptr<EventQueue> *>(opaque);
}

class LibvirtEvents final : public VmEvents {
public:
  LibvirtEvents(std::string uri, ConnectPtr conn)
      : m_uri(std::move(uri)), m_conn(std::move(conn)) {}

  Status watch(const std::map<std::string, std::string> &metadata,
               const std::function<void(const VmEvent &)> &on_event, const std::atomic<bool> &stop,
               const std::function<void()> &listening) override {
    auto queue = std::make_shared<EventQueue>();
    auto *opaque = new std::shared_ptr<EventQueue>(queue);
    const int id = virConnectDomainEventRegisterAny(
        m_conn.get(), nullptr, VIR_DOMAIN_EVENT_ID_LIFECYCLE,
        VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), opaque, release_queue);
    if (id < 0) {
      delete opaque;
      return fail(
          fmt::format("cannot follow libvirt's domain events ({}): {}", m_uri, last_message()),
          k_start_help);
    }
    // The metadata of every domain now: a domain's stop or undefine may come when it is gone.
    std::map<std::string, std::map<std::string, std::string>> known; // uuid -> metadata
    virDomainPtr *raw_domains = nullptr;
    const int count = virConnectListAllDomains(m_conn.get(), &raw_domains, 0);
    DomainArray domains{raw_domains};
    for (int i = 0; i < count; ++i) {
      DomainPtr dom{raw_domains[i]};
      std::array<char, VIR_UUID_STRING_BUFLEN> uuid{};
      if (virDomainGetUUIDString(dom.get(), uuid.data()) == 0) {
        known[uuid.data()] = metadata_of(dom.get());
      }
    }
    if (listening) {
      listening();
    }
    Status result;
    while (!stop.load()) {
      std::vector<EventQueue::Raw> raws;
      {
        std::unique_lock lock(queue->mutex);
        queue->changed.wait_for(lock, std::chrono::milliseconds(50),
                                [&] { return !queue->raws.empty(); });
        raws.swap(queue->raws);
      }
      for (auto &raw : raws) {
        auto it = known.find(raw.uuid);
        if (it == known.end()) {
          DomainPtr dom{virDomainLookupByUUIDString(m_conn.get(), raw.uuid.c_str())};
          it = known
                   .emplace(raw.uuid,
                            dom ? metadata_of(dom.get()) : std::map<std::string, std::string>{})
                   .first;
        }
        if (!it->second.empty() && has_all(it->second, metadata)) {
          on_event({raw.time_ns, raw.name, vm_event_name(raw.event),
                    vm_event_detail(raw.event, raw.detail), it->second});
        }
        if (raw.event == VIR_DOMAIN_EVENT_UNDEFINED ||
            (raw.event == VIR_DOMAIN_EVENT_STOPPED && virConnectIsAlive(m_conn.get()) == 1 &&
             !exists(raw.uuid))) {
          known.erase(raw.uuid); // a transient domain is gone with its stop
        }
      }
      if (virConnectIsAlive(m_conn.get()) != 1) {
        result = fail(fmt::format("lost the connection to libvirt ({})", m_uri), k_start_help);
        break;
      }
    }
    virConnectDomainEventDeregisterAny(m_conn.get(), id);
    return result;
  }

private:
  bool exists(const std::string &uuid) {
    DomainPtr dom{virDomainLookupByUUIDString(m_conn.get(), uuid.c_str())};
    return static_cast<bool>(dom);
  }

  std::string m_uri;
  ConnectPtr m_conn;
};

} // namespace

Result<std::unique_ptr<VmEvents>> connect_libvirt_events(const std::string &uri) {
  init_libvirt();
  ConnectPtr conn{virConnectOpen(uri.c_str())};
  if (!conn) {
    return fail(fmt::format("cannot connect to libvirt ({}): {}", uri, last_message()),
                k_start_help);
  }
  return std::make_unique<LibvirtEvents>(uri, std::move(conn));
}

namespace {

std::string trimmed(std::string text) {
  while (!text.empty() && text.back() == '\n') {
    text.pop_back();
  }
  return text;
}

/// The format of disk image `path` ("qcow2", "raw", ...), from `qemu-img info`.
Result<std::string> image_format(const std::string &path) {
  // --force-share: the image may be open in running VMs; only its format is wanted.
  LTB_TRY(probe, util::run({"qemu-img", "info", "--force-share", "--output=json", path}));
  if (probe.exit_code != 0) {
    return fail(fmt::format("cannot read disk image '{}': {}", path, trimmed(probe.err)),
                "check the image path in the topology");
  }
  try {
    return nlohmann::json::parse(probe.out).at("format").get<std::string>();
  } catch (const std::exception &e) {
    return fail(fmt::format("cannot read disk image '{}': unexpected `qemu-img info` output ({})",
                            path, e.what()));
  }
}

} // namespace

Status create_overlay(const std::string &base, const std::string &overlay,
                      const std::string &size) {
  std::error_code ec;
  if (std::filesystem::exists(overlay, ec)) {
    return fail(fmt::format("disk overlay '{}' already exists", overlay),
                "remove it first; ltb does not overwrite a VM's disk");
  }
  // qemu-img resolves a relative backing path against the overlay's folder, not ours.
  const auto base_abs = std::filesystem::absolute(base, ec).lexically_normal().string();
  LTB_TRY(format, image_format(base_abs));
  std::vector<std::string> argv{"qemu-img", "create", "-f",   "qcow2", "-b",
                                base_abs,   "-F",     format, overlay};
  if (!size.empty()) {
    argv.push_back(size);
  }
  LTB_TRY(made, util::run(argv));
  if (made.exit_code != 0) {
    return fail(fmt::format("cannot create disk overlay '{}' on '{}': {}", overlay, base,
                            trimmed(made.err)),
                "check that the folder exists and has space");
  }
  return {};
}

Status rebase_overlay_unsafe(const std::string &layer, const std::string &backing) {
  std::error_code ec;
  const auto backing_abs = std::filesystem::absolute(backing, ec).lexically_normal().string();
  LTB_TRY(format, image_format(backing_abs));
  LTB_TRY(rebased, util::run({"qemu-img", "rebase", "-u", "-b", backing_abs, "-F", format, layer}));
  if (rebased.exit_code != 0) {
    return fail(fmt::format("cannot point disk layer '{}' at '{}': {}", layer, backing,
                            trimmed(rebased.err)),
                "check that the layer is a qcow2 file ltb wrote");
  }
  return {};
}

namespace {

class RealOverlays final : public Overlays {
public:
  Status create(const std::string &base, const std::string &overlay,
                const std::string &size) override {
    std::error_code ec;
    std::filesystem::remove(overlay, ec);
    return create_overlay(base, overlay, size);
  }
  Status remove(const std::string &overlay) override {
    std::error_code ec;
    std::filesystem::remove(overlay, ec);
    return {};
  }
  Status rebase_unsafe(const std::string &layer, const std::string &backing) override {
    return rebase_overlay_unsafe(layer, backing);
  }
  Status link(const std::string &from, const std::string &to) override {
    std::error_code ec;
    std::filesystem::create_hard_link(from, to, ec);
    if (ec) {
      return fail(fmt::format("cannot keep disk layer {} as {}: {}", from, to, ec.message()),
                  "the state file's folder and the labs' folders must be on one file system");
    }
    return {};
  }
  Status move(const std::string &from, const std::string &to) override {
    std::error_code ec;
    std::filesystem::rename(from, to, ec);
    if (ec) {
      return fail(fmt::format("cannot rename disk {} to {}: {}", from, to, ec.message()));
    }
    return {};
  }
  Result<std::vector<std::string>> files_under(const std::string &dir) override {
    std::vector<std::string> out;
    std::error_code ec;
    for (std::filesystem::recursive_directory_iterator it(dir, ec), end; !ec && it != end;
         it.increment(ec)) {
      if (it->is_directory(ec) && it->path().filename().string().rfind('.', 0) == 0) {
        it.disable_recursion_pending();
        continue;
      }
      if (it->is_regular_file(ec) && it->path().extension() == ".qcow2") {
        out.push_back(it->path().string());
      }
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  Result<std::vector<std::string>> backing_chain(const std::string &image) override {
    LTB_TRY(probe, util::run({"qemu-img", "info", "--force-share", "--backing-chain",
                              "--output=json", image}));
    if (probe.exit_code != 0) {
      return fail(fmt::format("cannot read disk image '{}': {}", image, probe.err));
    }
    std::vector<std::string> chain;
    try {
      const auto parsed = nlohmann::json::parse(probe.out);
      for (std::size_t i = 1; i < parsed.size(); ++i) {
        chain.push_back(parsed[i].at("filename").get<std::string>());
      }
    } catch (const std::exception &e) {
      return fail(fmt::format("cannot read disk image '{}': unexpected `qemu-img info` output ({})",
                              image, e.what()));
    }
    return chain;
  }
};

} // namespace

Overlays &host_overlays() {
  static RealOverlays real;
  return real;
}

} // namespace ltb::runtime
