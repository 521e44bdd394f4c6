#include "service/container_cache.hpp"

#include "plan/names.hpp"

#include <chrono>
#include <thread>

namespace ltb::service {

std::string ContainerCache::key_of(const Labels &labels) {
  std::string key;
  for (const auto &[name, value] : labels) {
    key += name;
    key += '\0';
    key += value;
    key += '\0';
  }
  return key;
}

ContainerCache::Version ContainerCache::version_of(const Labels &labels) const {
  auto lab = labels.find(plan::k_label_lab);
  if (lab == labels.end() || lab->second.empty()) {
    return {m_resets, m_any};
  }
  auto changes = m_labs.find(lab->second);
  return {m_resets, changes == m_labs.end() ? 0 : changes->second};
}

std::optional<std::vector<runtime::ContainerInfo>> ContainerCache::find(const Labels &labels,
                                                                        Version &version) {
  std::lock_guard lock(m_mutex);
  version = version_of(labels);
  if (m_live) {
    auto it = m_entries.find(key_of(labels));
    if (it != m_entries.end() && it->second.version == version) {
      m_hits.fetch_add(1);
      return it->second.containers;
    }
  }
  m_misses.fetch_add(1);
  return std::nullopt;
}

void ContainerCache::store(const Labels &labels, const Version &version,
                           std::vector<runtime::ContainerInfo> containers) {
  std::lock_guard lock(m_mutex);
  // Changed since the listing was asked for: it may be older than the change.
  if (!m_live || version_of(labels) != version) {
    return;
  }
  m_entries[key_of(labels)] = Entry{version, std::move(containers)};
}

void ContainerCache::changed(const std::string &lab) {
  std::lock_guard lock(m_mutex);
  ++m_any;
  if (lab.empty()) {
    ++m_resets;
    m_entries.clear();
    return;
  }
  ++m_labs[lab];
}

void ContainerCache::set_live(bool live) {
  std::lock_guard lock(m_mutex);
  m_live = live;
  ++m_resets;
  m_entries.clear();
}

bool ContainerCache::live() const {
  std::lock_guard lock(m_mutex);
  return m_live;
}

void ContainerCache::follow(runtime::ContainerEvents &events, const std::atomic<bool> &stop) {
  const Labels labelled{{plan::k_label_lab, ""}};
  while (!stop.load()) {
    // Docker replays the events since `since`: one that happens while the watch starts is seen,
    // so a listing kept from now on is never older than a change it missed.
    const auto since = std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    set_live(true);
    (void)events.watch(
        labelled, since,
        [this](const runtime::ContainerEvent &event) {
          auto lab = event.attributes.find(plan::k_label_lab);
          changed(lab == event.attributes.end() ? std::string() : lab->second);
        },
        stop);
    set_live(false);
    for (int i = 0; i < 20 && !stop.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

void follow_docker(ContainerCache &cache, const std::atomic<bool> &stop) {
  while (!stop.load()) {
    if (auto events = runtime::connect_docker_events()) {
      cache.follow(**events, stop);
      continue;
    }
    for (int i = 0; i < 20 && !stop.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

namespace {

class CachedRuntime final : public runtime::ContainerRuntime {
public:
  CachedRuntime(std::unique_ptr<runtime::ContainerRuntime> inner,
                std::shared_ptr<ContainerCache> cache)
      : m_inner(std::move(inner)), m_cache(std::move(cache)) {}

  Result<std::string> server_version() override { return m_inner->server_version(); }
  Result<std::vector<runtime::NetworkInfo>>
  list_networks(const std::map<std::string, std::string> &labels) override {
    return m_inner->list_networks(labels);
  }
  Result<std::string> create_network(const runtime::NetworkSpec &spec) override {
    return m_inner->create_network(spec);
  }
  Status remove_network(const std::string &name_or_id) override {
    return m_inner->remove_network(name_or_id);
  }
  Result<bool> image_present(const std::string &image) override {
    return m_inner->image_present(image);
  }
  Status pull_image(const std::string &image, const runtime::PullProgress &progress) override {
    return m_inner->pull_image(image, progress);
  }
  Result<std::optional<runtime::ImageInfo>> inspect_image(const std::string &image) override {
    return m_inner->inspect_image(image);
  }
  Result<std::vector<runtime::ImageInfo>>
  list_images(const std::map<std::string, std::string> &labels) override {
    return m_inner->list_images(labels);
  }
  Result<std::vector<runtime::ContainerInfo>>
  list_containers(const std::map<std::string, std::string> &labels) override {
    ContainerCache::Version version;
    if (auto kept = m_cache->find(labels, version)) {
      return std::move(*kept);
    }
    LTB_TRY(containers, m_inner->list_containers(labels));
    m_cache->store(labels, version, containers);
    return containers;
  }
  Result<std::string> create_container(const runtime::ContainerSpec &spec) override {
    auto made = m_inner->create_container(spec);
    m_cache->changed("");
    return made;
  }
  Status start_container(const std::string &id) override {
    return changing(m_inner->start_container(id));
  }
  Status stop_container(const std::string &id, int timeout_seconds) override {
    return changing(m_inner->stop_container(id, timeout_seconds));
  }
  Result<runtime::ContainerInfo> inspect_container(const std::string &name_or_id) override {
    return m_inner->inspect_container(name_or_id);
  }
  Status remove_container(const std::string &name_or_id) override {
    return changing(m_inner->remove_container(name_or_id));
  }
  Status pause_container(const std::string &id) override {
    return changing(m_inner->pause_container(id));
  }
  Status unpause_container(const std::string &id) override {
    return changing(m_inner->unpause_container(id));
  }
  Result<std::string> commit_container(const std::string &id, const std::string &image,
                                       const std::map<std::string, std::string> &labels) override {
    return m_inner->commit_container(id, image, labels);
  }
  Result<std::int64_t> container_changes_size(const std::string &id) override {
    return m_inner->container_changes_size(id);
  }
  Result<std::vector<std::pair<runtime::ContainerInfo, std::int64_t>>>
  list_containers_sized(const std::map<std::string, std::string> &labels) override {
    return m_inner->list_containers_sized(labels);
  }
  Status remove_image(const std::string &image) override { return m_inner->remove_image(image); }
  Status save_image(const std::string &image, const std::string &file) override {
    return m_inner->save_image(image, file);
  }
  Result<std::vector<std::string>> load_image(const std::string &file) override {
    return m_inner->load_image(file);
  }
  Result<runtime::ExecOutput> exec(const std::string &id, const std::vector<std::string> &argv,
                                   int timeout_seconds) override {
    return m_inner->exec(id, argv, timeout_seconds);
  }

private:
  /// A change made here: its lab is not at hand (an id), so every listing is asked for again.
  Status changing(Status status) {
    m_cache->changed("");
    return status;
  }

  std::unique_ptr<runtime::ContainerRuntime> m_inner;
  std::shared_ptr<ContainerCache> m_cache;
};

} // namespace

std::unique_ptr<runtime::ContainerRuntime>
cached_runtime(std::unique_ptr<runtime::ContainerRuntime> inner,
               std::shared_ptr<ContainerCache> cache) {
  return std::make_unique<CachedRuntime>(std::move(inner), std::move(cache));
}

} // namespace ltb::service
