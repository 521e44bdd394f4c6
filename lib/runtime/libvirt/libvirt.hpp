#pragma once
// VM nodes through libvirt's C API: transient domains built from domain_xml(), found again by
// the ltb metadata they carry. One connection, shared by all threads (libvirt connections are
// thread-safe). Depends on util/ only.

#include "runtime/libvirt/domain_xml.hpp"
#include "util/error.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ltb::runtime {

/// An external snapshot of a domain (see VmRuntime::snapshot).
struct VmSnapshotSpec {
  std::string disk_target = "vda"; // the disk that goes on a new layer ("" = the domain has none)
  std::string overlay;     // the new active layer, made by the caller (its backing file included)
  std::string memory_file; // where memory and device state go; "" = the disk alone
};

struct VmInfo {
  std::string name;
  std::string uuid;
  std::string state; // "running", "shutoff", "paused", "crashed", "blocked", "shutdown", ...
  bool persistent = false;
  std::map<std::string, std::string> metadata;
  int vcpus = 0;
  std::int64_t memory_mib = 0;
};

/// A VM's interface as libvirt counts it: the host's name of it (a tap), bytes from the guest's
/// side (received: what the guest received).
struct VmInterfaceStats {
  std::string name;
  std::int64_t rx_bytes = 0;
  std::int64_t tx_bytes = 0;
};

/// A domain's figures from libvirt's bulk domain stats.
struct VmStats {
  std::string name;
  std::string state; // as VmInfo's
  std::int64_t cpu_time_ns = 0;
  /// The QEMU process's resident memory (balloon.rss): what the guest holds of the host's.
  std::int64_t rss_bytes = 0;
  std::vector<VmInterfaceStats> interfaces;
  /// Bytes the host allocated to its disks' active layers (block.N.allocation, summed).
  std::int64_t disk_allocation_bytes = 0;
};

class VmRuntime {
public:
  virtual ~VmRuntime() = default;

  virtual Result<std::string> version() = 0; // e.g. "libvirt 9.0.0, QEMU 7.2.0"
  /// The hypervisor offers KVM and /dev/kvm opens here. Says nothing about whether a guest
  /// really boots under it (nested virtualisation may hang): that check is the caller's.
  virtual Result<bool> kvm_usable() = 0;
  /// Persistent and transient domains whose metadata holds all the given pairs, by name.
  virtual Result<std::vector<VmInfo>> list(const std::map<std::string, std::string> &metadata) = 0;
  /// Starts a transient domain: nothing of it stays in libvirt after destroy().
  virtual Result<VmInfo> create(const VmSpec &spec) = 0;
  /// Stops the domain and, if it is persistent, undefines it. Ok if there is no such domain.
  virtual Status destroy(const std::string &name) = 0;
  /// Stops a running domain and keeps it: it is defined (made persistent, same name, uuid, disk
  /// and NICs) first, then shut down through ACPI, and destroyed when it is still running after
  /// `timeout_seconds`. Ok when it is shut off already.
  virtual Status shutdown(const std::string &name, int timeout_seconds) = 0;
  /// Boots a defined domain that is shut off. Ok when it runs.
  virtual Status start(const std::string &name) = 0;
  virtual Result<VmInfo> info(const std::string &name) = 0;
  /// Pauses a running domain's vCPUs (libvirt's suspend); ok when it is paused already.
  virtual Status suspend(const std::string &name) = 0;
  /// Runs a paused domain again; ok when it runs.
  virtual Status resume(const std::string &name) = 0;
  /// The file of the domain's first disk as it is now (its active layer); "" when it has none.
  virtual Result<std::string> disk_path(const std::string &name) = 0;
  /// An external snapshot, kept by no libvirt metadata: the domain goes on writing to
  /// `spec.overlay` (which the caller made, backed by the current layer or a name of it), and
  /// with a memory file its memory and device state are written there first. A paused domain
  /// stays paused. libvirt 9.0 cannot revert such snapshots: restore() does it.
  virtual Status snapshot(const std::string &name, const VmSnapshotSpec &spec) = 0;
  /// Starts the domain a memory file of snapshot() holds, running, as it was at that instant,
  /// with its disk at `disk` in place of the file it had then (`saved_disk`; both "" for a VM
  /// without a disk) and `metadata` as its ltb metadata. The domain must not exist.
  virtual Result<VmInfo> restore(const std::string &memory_file, const std::string &saved_disk,
                                 const std::string &disk,
                                 const std::map<std::string, std::string> &metadata) = 0;
  /// Copies in_fd to the domain's serial console and the console to out_fd until `escape` is
  /// read from in_fd, in_fd ends, or the console closes. Raw mode is the caller's business.
  virtual Status console(const std::string &name, int in_fd, int out_fd, char escape) = 0;
  /// Every domain's figures in one call (virConnectGetAllDomainStats), by name.
  virtual Result<std::vector<VmStats>> domain_stats() = 0;
};

/// Opens the connection. When libvirtd does not answer, fails with one line that says how to
/// start it.
Result<std::unique_ptr<VmRuntime>> connect_libvirt(const std::string &uri = "qemu:///system");

/// One lifecycle event of a domain (libvirt's VIR_DOMAIN_EVENT_ID_LIFECYCLE).
struct VmEvent {
  std::int64_t time_ns = 0; // when it arrived (libvirt's events carry no time of their own)
  std::string name;         // the domain's
  /// "started", "stopped", "shutdown", "crashed", "suspended", "resumed", "defined",
  /// "undefined", "pmsuspended"
  std::string event;
  /// libvirt's detail of it: for stopped "shutdown", "destroyed", "crashed", "failed", "saved",
  /// "migrated", "from-snapshot"; for started "booted", "restored", ...; "" when unknown.
  std::string detail;
  std::map<std::string, std::string> metadata; // the domain's ltb metadata (lab, node, ...)
};

/// libvirt's domain events, apart from VmRuntime because a watch holds a callback registered for
/// as long as it lasts.
class VmEvents {
public:
  virtual ~VmEvents() = default;
  /// Calls `on_event` for every lifecycle event of a domain whose metadata holds all `metadata`
  /// pairs ("" as a value: the key with any value), as they happen, until `stop` is set (seen
  /// within 50 ms) or the connection breaks (an error: libvirtd went away). `listening` is called
  /// once events are subscribed (no replay: what happened before is not delivered).
  virtual Status watch(const std::map<std::string, std::string> &metadata,
                       const std::function<void(const VmEvent &)> &on_event,
                       const std::atomic<bool> &stop, const std::function<void()> &listening) = 0;
};

/// The real events, on their own connection; fails like connect_libvirt().
Result<std::unique_ptr<VmEvents>> connect_libvirt_events(const std::string &uri = "qemu:///system");

/// libvirt's names of a lifecycle event and its detail (VmEvent::event and ::detail).
std::string vm_event_name(int event);
std::string vm_event_detail(int event, int detail);

/// `qemu-img create -f qcow2 -b BASE -F <base format> OVERLAY [SIZE]`; the base format comes
/// from `qemu-img info`. size empty = the base's size.
Status create_overlay(const std::string &base, const std::string &overlay,
                      const std::string &size = {});

/// `qemu-img rebase -u -b BACKING -F <its format> LAYER`: only the header changes (the backing
/// file's name and format), not a byte of data: for a layer whose backing file moved (a snapshot
/// imported from another host) and holds the same content.
Status rebase_overlay_unsafe(const std::string &layer, const std::string &backing);

/// A VM's copy-on-write disks (qemu-img and files), behind a seam for unit tests of apply/.
class Overlays {
public:
  virtual ~Overlays() = default;
  /// create_overlay(), replacing an existing overlay file.
  virtual Status create(const std::string &base, const std::string &overlay,
                        const std::string &size) = 0;
  /// Deletes the overlay file. Ok when it does not exist.
  virtual Status remove(const std::string &overlay) = 0;
  /// Points qcow2 file `layer` at `backing` (rebase_overlay_unsafe()).
  virtual Status rebase_unsafe(const std::string &layer, const std::string &backing) = 0;
  /// Gives the file `from` a second name `to` (a hard link, same folder tree and file system):
  /// a snapshot's frozen layer keeps its content after the lab's name of it is gone.
  virtual Status link(const std::string &from, const std::string &to) = 0;
  /// Renames `from` to `to`, replacing it (one step: `to` is never missing).
  virtual Status move(const std::string &from, const std::string &to) = 0;
  /// The qcow2 files (".qcow2") under `dir`, recursively; none when it does not exist. Not under
  /// a directory whose name starts with '.': a lab's copy of the files a user sent (.files) is
  /// no VM's disk, and qemu-img must never open such a file as one.
  virtual Result<std::vector<std::string>> files_under(const std::string &dir) = 0;
  /// The files `image` builds on, nearest first, without itself (`qemu-img info
  /// --backing-chain`, shared: the image may be open in a running VM).
  virtual Result<std::vector<std::string>> backing_chain(const std::string &image) = 0;
};

/// The real one. Stateless, so one instance serves all.
Overlays &host_overlays();

} // namespace ltb::runtime
