#pragma once
// The daemon's memory of Docker's container listings, kept true by Docker's event stream: a
// listing (the containers carrying some labels) is answered from memory until an event of one of
// those containers says something changed. Without a live event stream nothing is answered from
// memory. `ltb serve` follows the stream; the CLI has no cache.

#include "runtime/docker/docker.hpp"

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace ltb::service {

class ContainerCache {
public:
  using Labels = std::map<std::string, std::string>;
  /// What a listing was made from: compare it with the cache's before keeping the listing.
  struct Version {
    std::uint64_t resets = 0;
    std::uint64_t changes = 0;
    bool operator==(const Version &) const = default;
  };

  /// The kept listing for `labels` when it is still true; else nullopt, and `version` is what a
  /// listing made from now on is to be kept with (store()).
  std::optional<std::vector<runtime::ContainerInfo>> find(const Labels &labels, Version &version);
  /// Keeps a listing made after find() gave `version`; dropped when something changed meanwhile.
  void store(const Labels &labels, const Version &version,
             std::vector<runtime::ContainerInfo> containers);

  /// A container of lab `lab` changed ("" when which lab is not known: everything is stale).
  void changed(const std::string &lab);
  /// Whether an event stream is followed: while it is not, nothing is answered from memory.
  void set_live(bool live);
  bool live() const;

  /// Follows `events` (containers labelled with a lab) until `stop`: live while a watch runs,
  /// a change for each event, a new watch 1 s after the stream breaks (Docker restarting).
  void follow(runtime::ContainerEvents &events, const std::atomic<bool> &stop);

  /// Listings answered from memory, and made by asking Docker (for GET /metrics).
  std::uint64_t hits() const { return m_hits.load(); }
  std::uint64_t misses() const { return m_misses.load(); }

private:
  Version version_of(const Labels &labels) const;
  static std::string key_of(const Labels &labels);

  struct Entry {
    Version version;
    std::vector<runtime::ContainerInfo> containers;
  };
  mutable std::mutex m_mutex;
  bool m_live = false;
  std::uint64_t m_resets = 0;
  std::uint64_t m_any = 0;                     // changes of any lab (listings across labs)
  std::map<std::string, std::uint64_t> m_labs; // changes per lab
  std::map<std::string, Entry> m_entries;      // by key_of(labels)
  std::atomic<std::uint64_t> m_hits{0};
  std::atomic<std::uint64_t> m_misses{0};
};

/// `cache.follow()` on Docker's own event stream until `stop`, connecting again while Docker does
/// not answer.
void follow_docker(ContainerCache &cache, const std::atomic<bool> &stop);

/// A ContainerRuntime that answers list_containers() from `cache` (asking `inner` and keeping its
/// answer on a miss) and passes everything else on to `inner`; its own changes (create, start,
/// stop, remove, pause, unpause) make the cache forget their lab at once, before Docker's event.
std::unique_ptr<runtime::ContainerRuntime>
cached_runtime(std::unique_ptr<runtime::ContainerRuntime> inner,
               std::shared_ptr<ContainerCache> cache);

} // namespace ltb::service
