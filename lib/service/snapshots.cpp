#include "service/snapshots.hpp"

#include "net/link_json.hpp"
#include "plan/names.hpp"
#include "schedule/admission.hpp"
#include "schedule/ledger.hpp"
#include "service/deploy.hpp"
#include "service/lifecycle.hpp"
#include "service/links.hpp"
#include "service/owners.hpp"
#include "service/save.hpp"
#include "service/snapshot_transfer.hpp"
#include "service/users.hpp"
#include "topology/impairments.hpp"
#include "topology/kinds.hpp"
#include "util/hash.hpp"
#include "util/shell_split.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <thread>
#include <yaml-cpp/yaml.h>

namespace ltb::service {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

// How long a node may take to print its running configuration before the snapshot gives up.
constexpr int k_show_config_seconds = 10;
constexpr const char *k_restore_key = "snapshot.restore."; // + target lab: an unfinished restore

std::int64_t ms_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

/// The lock a snapshot command of a lab holds for as long as it runs: a killed one releases it,
/// which is how the next command knows that a snapshot left 'creating' is nobody's any more.
/// '@' cannot be in a lab's name, so it never is a lab's own lock.
std::string snapshot_lock_name(const std::string &lab) {
  return lab + "@snapshot";
}

Status check_name(const std::string &name) {
  static const std::regex k_pattern("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$");
  if (!std::regex_match(name, k_pattern)) {
    return fail(fmt::format("'{}' is not a valid snapshot name", name),
                "use letters, digits, '_', '.' and '-' (up to 64), starting with a letter or "
                "digit",
                ExitCode::usage);
  }
  return {};
}

std::string default_name(std::int64_t now) {
  const std::time_t t = now;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buffer[32];
  std::strftime(buffer, sizeof buffer, "%Y%m%d-%H%M%S", &tm);
  return buffer;
}

/// Runs fn(i) for i in [0, n) on up to `workers` threads; the statuses in order.
std::vector<Status> in_parallel(std::size_t n, int workers,
                                const std::function<Status(std::size_t)> &fn) {
  std::vector<Status> out(n);
  std::mutex mutex;
  std::size_t next = 0;
  auto work = [&] {
    for (;;) {
      std::size_t i = 0;
      {
        std::lock_guard lock(mutex);
        if (next >= n) {
          return;
        }
        i = next++;
      }
      out[i] = fn(i);
    }
  };
  std::vector<std::thread> threads;
  const auto count = std::min<std::size_t>(n, static_cast<std::size_t>(std::max(workers, 1)));
  for (std::size_t t = 0; t < count; ++t) {
    threads.emplace_back(work);
  }
  for (auto &thread : threads) {
    thread.join();
  }
  return out;
}

std::optional<Error> first_error(const std::vector<Status> &statuses) {
  for (const auto &status : statuses) {
    if (!status) {
      return status.error();
    }
  }
  return std::nullopt;
}

/// A container node of the lab as the snapshot takes it.
struct Member {
  state::NodeRecord record;
  std::string id;
  int pid = 0;
  bool running = false; // else stopped (`ltb stop`): committed as it is, not paused
  std::string image;    // the snapshot's
};

/// A VM node of the lab as the snapshot takes it.
struct VmMember {
  state::NodeRecord record;
  std::string domain;
  bool running = false; // else shut off (`ltb stop`): its disk is taken, it has no memory
  std::string disk;     // its active layer now ("" = a VM without a disk)
  std::string layer;    // the name the snapshot keeps that layer under
  std::string overlay;  // the new active layer a running VM goes on
  std::string memory;   // where its memory state goes ("" = not kept)
  std::int64_t memory_mib = 0;
};

/// Where frozen VM disk layers live: <state dir>/disk-layers/LAB/. Snapshots name them; a lab's
/// disks build on them; collect_disk_layers() removes those nothing uses any more.
fs::path layers_root(const Context &context) {
  return fs::path(context.state_path).parent_path() / "disk-layers";
}

fs::path labs_root(const Context &context) {
  return fs::path(context.lab_dir("_")).parent_path();
}

json link_json(const state::LinkRecord &link) {
  json out{{"key", link.key},           {"name", link.name},         {"a_node", link.a_node},
           {"a_iface", link.a_iface},   {"b_node", link.b_node},     {"b_iface", link.b_iface},
           {"impair_a", link.impair_a}, {"impair_b", link.impair_b}, {"down", link.down}};
  if (link.override_a) {
    out["override_a"] = *link.override_a;
  }
  if (link.override_b) {
    out["override_b"] = *link.override_b;
  }
  return out;
}

/// The interfaces of a container node the snapshot reads: its loopback and its link ends.
std::vector<std::string> node_ifaces(const std::string &node,
                                     const std::vector<state::LinkRecord> &links) {
  std::vector<std::string> out{"lo"};
  for (const auto &link : links) {
    if (link.a_node == node) {
      out.push_back(link.a_iface);
    }
    if (link.b_node == node) {
      out.push_back(link.b_iface);
    }
  }
  return out;
}

/// Whether the disk can hold `need` more bytes beside what is booked now: the capacity rule of
/// admission (schedule/), with snapshots counted as disk.
Status check_disk(const Session &session, state::Store &store, std::int64_t need, std::int64_t now,
                  const std::string &lab) {
  LTB_TRY(config, schedule::load_config(store));
  LTB_TRY(facts, schedule::measure_host(fs::path(session.context.state_path).parent_path()));
  const auto capacity = schedule::capacity(facts, config);
  LTB_TRY(bookings, schedule::current_bookings(store, now, config.defaults));
  const auto used = schedule::Timeline(bookings).usage_at(now).disk_bytes;
  if (used + need > capacity.disk_bytes) {
    return fail(fmt::format("not enough disk for a snapshot of lab '{}': it needs about {}, and "
                            "{} of the {} ltb may use are taken",
                            lab, schedule::format_bytes(need), schedule::format_bytes(used),
                            schedule::format_bytes(capacity.disk_bytes)),
                "remove old snapshots (ltb snapshot list, ltb snapshot rm) or raise the disk "
                "setting (ltb config set disk SIZE)");
  }
  return {};
}

/// Removes what a snapshot owns outside the state file; the first failure, after trying all.
Status remove_artifacts(apply::Backends &backends, const Context &context, const std::string &lab,
                        const std::string &name) {
  LTB_TRY(artifacts, backends.store->snapshot_artifacts(lab, name));
  std::optional<Error> failed;
  for (const auto &artifact : artifacts) {
    if (artifact.type == "image") {
      remove_import_leftovers(*backends.docker, artifact.ref);
      if (auto removed = backends.docker->remove_image(artifact.ref); !removed && !failed) {
        failed = removed.error();
      }
    }
  }
  // Images made but not yet recorded (a kill between commit and record cannot happen: they are
  // recorded first), and ones recorded under another name by an older ltb: by their labels.
  if (auto images =
          backends.docker->list_images({{k_label_snapshot_lab, lab}, {k_label_snapshot, name}})) {
    for (const auto &image : *images) {
      for (const auto &tag : image.tags) {
        if (auto removed = backends.docker->remove_image(tag); !removed && !failed) {
          failed = removed.error();
        }
      }
    }
  }
  std::error_code ec;
  fs::remove_all(snapshot_dir(context, lab, name), ec); // memory files and kept configurations
  if (auto collected = collect_disk_layers(context, backends, lab, name); !collected && !failed) {
    failed = collected.error();
  }
  if (failed) {
    return fail(*failed);
  }
  return {};
}

/// Thaws the lab's containers that are paused (a killed snapshot's); the names thawed.
Result<std::vector<std::string>> resume_paused(apply::Backends &backends, const std::string &lab) {
  LTB_TRY(containers, backends.docker->list_containers({{plan::k_label_lab, lab}}));
  std::vector<std::string> resumed;
  for (const auto &container : containers) {
    if (container.state == "paused") {
      LTB_CHECK(backends.docker->unpause_container(container.id));
      resumed.push_back(container.name);
    }
  }
  if (backends.vms) {
    LTB_TRY(domains, backends.vms->list({{plan::k_label_lab, lab}}));
    for (const auto &domain : domains) {
      if (domain.state == "paused") {
        LTB_CHECK(backends.vms->resume(domain.name));
        resumed.push_back(domain.name);
      }
    }
  }
  return resumed;
}

/// Takes a VM's part of the snapshot, its node paused (or shut off): its disk's active layer is
/// kept under the snapshot's name of it and the VM goes on writing to a new layer over it; with
/// memory, its memory and device state are written first.
Status take_vm(apply::Backends &backends, const VmMember &vm) {
  if (vm.layer.empty()) {
    if (!vm.memory.empty()) {
      return backends.vms->snapshot(vm.domain, {"", "", vm.memory});
    }
    return {};
  }
  auto &overlays = *backends.overlays;
  LTB_CHECK(overlays.link(vm.disk, vm.layer));
  if (vm.running) {
    LTB_CHECK(overlays.create(vm.layer, vm.overlay, ""));
    if (auto taken = backends.vms->snapshot(vm.domain, {"vda", vm.overlay, vm.memory}); !taken) {
      (void)overlays.remove(vm.overlay);
      auto error = taken.error();
      error.message = fmt::format("VM {}: {}", vm.record.name, error.message);
      return fail(std::move(error));
    }
    return {};
  }
  // Shut off: its definition names vm.disk, which becomes a new layer over the kept one (made
  // beside it, then renamed over it: the name is never missing).
  LTB_CHECK(overlays.create(vm.layer, vm.overlay, ""));
  if (auto moved = overlays.move(vm.overlay, vm.disk); !moved) {
    (void)overlays.remove(vm.overlay);
    return moved;
  }
  return {};
}

} // namespace

Status collect_disk_layers(const Context &context, apply::Backends &backends,
                           const std::string &except_lab, const std::string &except_name) {
  auto &overlays = *backends.overlays;
  LTB_TRY(stored, overlays.files_under(layers_root(context).string()));
  if (stored.empty()) {
    return {};
  }
  std::set<std::string> used;
  LTB_TRY(snapshots, backends.store->snapshots());
  for (const auto &snapshot : snapshots) {
    if (snapshot.lab == except_lab && snapshot.name == except_name) {
      continue;
    }
    LTB_TRY(artifacts, backends.store->snapshot_artifacts(snapshot.lab, snapshot.name));
    for (const auto &artifact : artifacts) {
      if (artifact.type == "disk") {
        used.insert(artifact.ref);
      }
    }
  }
  // Every VM disk of every lab, and what it builds on. A chain that cannot be read keeps
  // everything: a layer removed by mistake is a VM's disk lost.
  LTB_TRY(disks, overlays.files_under(labs_root(context).string()));
  for (const auto &disk : disks) {
    LTB_TRY(chain, overlays.backing_chain(disk));
    used.insert(chain.begin(), chain.end());
  }
  for (const auto &layer : stored) {
    if (!used.count(layer)) {
      LTB_CHECK(overlays.remove(layer));
    }
  }
  return {};
}

Status forget_restore(state::Store &store, const std::string &lab) {
  return store.delete_meta(k_restore_key + lab);
}

std::string snapshot_dir(const Context &context, const std::string &lab, const std::string &name) {
  return (fs::path(context.state_path).parent_path() / "snapshots" / lab / name).string();
}

std::string snapshot_image(const std::string &lab, const std::string &name,
                           const std::string &node) {
  // Tags allow [A-Za-z0-9_.-] (128 at most), as names do; the hash keeps "a.b"+"c" and "a"+"b.c"
  // apart.
  auto readable = fmt::format("{}.{}.{}", lab, name, node).substr(0, 100);
  return fmt::format("ltb-snapshot:{}-{}", readable,
                     util::sha256_hex(lab + '\0' + name + '\0' + node).substr(0, 8));
}

std::string snapshot_lock(const std::string &lab) {
  return snapshot_lock_name(lab);
}

Status check_snapshot_disk(const Session &session, state::Store &store, std::int64_t need,
                           std::int64_t now, const std::string &lab) {
  return check_disk(session, store, need, now, lab);
}

Result<SnapshotCreateOutcome> create_snapshot(const Session &session, apply::Backends &backends,
                                              const SnapshotCreateRequest &request,
                                              std::int64_t now) {
  const auto started = Clock::now();
  auto &store = *backends.store;
  auto &docker = *backends.docker;
  const Context &context = session.context;
  SnapshotCreateOutcome outcome;
  outcome.lab = request.lab;
  outcome.name = request.name.empty() ? default_name(now) : request.name;
  LTB_CHECK(check_name(outcome.name));
  LTB_TRY(lab, store.lab(request.lab));
  if (!lab) {
    return fail(fmt::format("lab '{}' is not running: there is nothing to snapshot", request.lab),
                "see the labs with `ltb status`; start one with `ltb up FILE`");
  }
  if (lab->status != state::RecordStatus::running) {
    return fail(fmt::format("lab '{}' is not running (it is {}): a snapshot needs a running lab",
                            request.lab, state::to_string(lab->status)),
                "bring it up first (ltb up, ltb start)");
  }
  LTB_TRY(existing, store.snapshot(request.lab, outcome.name));
  if (existing) {
    return fail(
        Error{fmt::format("lab '{}' has a snapshot named '{}' already", request.lab, outcome.name),
              fmt::format("choose another name, or remove it first (ltb snapshot rm {} {})",
                          request.lab, outcome.name),
              ExitCode::failed, ErrorKind::already_exists});
  }
  LTB_TRY(lab_lock, state::LabLock::acquire(context.state_path, request.lab, context.wait_seconds));
  LTB_TRY(snapshot_lock,
          state::LabLock::acquire(context.state_path, snapshot_lock_name(request.lab),
                                  context.wait_seconds));
  LTB_TRY(nodes, store.nodes(request.lab));
  LTB_TRY(links, store.links(request.lab));
  std::vector<Member> members;
  std::vector<VmMember> vms;
  // One stamp for the files this snapshot makes: names never used before, even when a snapshot
  // of the same name was removed and made again.
  const auto stamp = std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
  for (const auto &node : nodes) {
    if (node.runtime == state::k_runtime_vm) {
      if (!backends.vms) {
        return fail(fmt::format("lab '{}' has VM node '{}', and libvirt is not connected",
                                request.lab, node.name),
                    "start it: virtlogd -d && libvirtd -d (or make setup)");
      }
      VmMember vm;
      vm.record = node;
      vm.domain = plan::container_name(request.lab, node.name);
      LTB_TRY(info, backends.vms->info(vm.domain));
      vm.running = info.state == "running" || info.state == "paused";
      vm.memory_mib = info.memory_mib;
      LTB_TRY(disk, backends.vms->disk_path(vm.domain));
      vm.disk = disk;
      const auto name = fmt::format("{}.{}", node.name, stamp);
      if (!vm.disk.empty()) {
        vm.layer = (layers_root(context) / request.lab / (name + ".qcow2")).string();
        vm.overlay =
            (fs::path(vm.disk).parent_path() / fmt::format("disk-{}.qcow2", stamp)).string();
      }
      if (request.memory && vm.running) {
        vm.memory =
            (fs::path(snapshot_dir(context, request.lab, outcome.name)) / (node.name + ".memory"))
                .string();
      }
      vms.push_back(std::move(vm));
      continue;
    }
    if (node.runtime != state::k_runtime_container) {
      continue; // bridges hold no state of their own: the topology makes them again
    }
    Member m;
    m.record = node;
    LTB_TRY(info, docker.inspect_container(node.runtime_id.empty()
                                               ? plan::container_name(request.lab, node.name)
                                               : node.runtime_id));
    m.id = info.id;
    m.pid = info.pid;
    m.running = info.state == "running" || info.state == "paused";
    m.image = snapshot_image(request.lab, outcome.name, node.name);
    members.push_back(std::move(m));
  }
  // Disk first: a refusal pauses nothing and records nothing.
  // Docker sums a container's changes by walking its layer: each asked for at once.
  std::vector<std::int64_t> changes(members.size(), 0);
  auto sized = in_parallel(members.size(), std::max<int>(request.workers, members.size()),
                           [&](std::size_t i) -> Status {
                             LTB_TRY(size, docker.container_changes_size(members[i].id));
                             changes[i] = size;
                             return {};
                           });
  if (auto error = first_error(sized)) {
    return fail(*error);
  }
  std::int64_t need = 0;
  for (const auto size : changes) {
    need += size;
  }
  for (const auto &vm : vms) {
    // A VM's disk layer is a second name of a file that exists; its memory state is new, and
    // at most its memory's size.
    if (!vm.memory.empty()) {
      need += vm.memory_mib * 1024 * 1024;
    }
  }
  LTB_CHECK(check_disk(session, store, need, now, request.lab));
  LTB_CHECK(check_snapshot_quota(
      session, store, need,
      fmt::format("cannot snapshot lab '{}'", lab_shown(session.caller, request.lab))));
  if (request.memory &&
      std::any_of(members.begin(), members.end(), [](const Member &m) { return m.running; })) {
    session.events.notice("notice: --memory keeps the VMs' memory; containers keep their file "
                          "systems, and their processes start again on restore");
  }

  // Recorded before anything is made: a kill from here on leaves a row 'creating' that the next
  // ltb command cleans up with what it lists.
  state::SnapshotRecord record;
  record.lab = request.lab;
  record.name = outcome.name;
  record.status = state::k_snapshot_creating;
  record.memory = request.memory;
  record.created_at = now;
  record.topology_file = lab->topology_file;
  record.topology_text = lab->topology_text;
  record.owner = lab->owner;
  LTB_CHECK(store.add_snapshot(record));
  auto discard = [&](Error error) -> Result<SnapshotCreateOutcome> {
    if (auto removed = remove_artifacts(backends, context, request.lab, outcome.name); !removed) {
      session.events.notice("notice: " + removed.error().message);
    }
    (void)store.delete_snapshot(request.lab, outcome.name);
    return fail(std::move(error));
  };
  for (const auto &m : members) {
    auto recorded = store.add_snapshot_artifact(
        {request.lab, outcome.name, m.record.name, "image", m.image, 0});
    if (!recorded) {
      return discard(recorded.error());
    }
  }
  // A VM's disk: the layer it keeps, then the older layers that one builds on (a snapshot's or
  // a restore's), nearest first; the node's image under them is not the snapshot's.
  for (const auto &vm : vms) {
    std::vector<std::string> layers;
    if (!vm.layer.empty()) {
      layers.push_back(vm.layer);
      auto chain = backends.overlays->backing_chain(vm.disk);
      if (!chain) {
        return discard(chain.error());
      }
      const auto root = layers_root(context).string() + "/";
      for (const auto &file : *chain) {
        if (file.rfind(root, 0) == 0) {
          layers.push_back(file);
        }
      }
    }
    if (!vm.memory.empty()) {
      layers.push_back(vm.memory);
    }
    for (const auto &file : layers) {
      auto recorded = store.add_snapshot_artifact({request.lab, outcome.name, vm.record.name,
                                                   file == vm.memory ? "memory" : "disk", file, 0});
      if (!recorded) {
        return discard(recorded.error());
      }
    }
  }
  const auto dir = snapshot_dir(context, request.lab, outcome.name);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (!ec && !vms.empty()) {
    fs::create_directories(layers_root(context) / request.lab, ec);
  }
  if (ec) {
    return discard(
        Error{fmt::format("cannot create the snapshot's directories ({}): {}", dir, ec.message()),
              "check the permissions of the state file's directory"});
  }

  // A router's configuration lives in its daemons as much as in a file: what `vtysh` was told
  // and not written is in no file the commit holds. Asked for just before the pause (a frozen
  // node answers nothing) and kept as the node's startup-config, which a restore starts it from.
  std::vector<std::size_t> shows;
  for (std::size_t i = 0; i < members.size(); ++i) {
    const auto *kind = topology::find_kind(members[i].record.kind);
    if (members[i].running && kind && !kind->running_config_command.empty()) {
      shows.push_back(i);
    }
  }
  std::vector<std::string> running_configs(members.size());
  auto shown = in_parallel(
      shows.size(), std::max<int>(request.workers, shows.size()), [&](std::size_t k) -> Status {
        const auto &m = members[shows[k]];
        const auto *kind = topology::find_kind(m.record.kind);
        const std::vector<std::string> argv(kind->running_config_command.begin(),
                                            kind->running_config_command.end());
        auto out = docker.exec(m.id, argv, k_show_config_seconds);
        if (!out || out->exit_code != 0) {
          const std::string why = !out ? out.error().message
                                       : fmt::format("exit status {}: {}", out->exit_code,
                                                     out->err.empty() ? out->out : out->err);
          return fail(fmt::format("cannot read the running configuration of node '{}' ({}): {}",
                                  m.record.name, util::shell_join(argv), why),
                      fmt::format("check that its daemons run: ltb exec {} --lab {} -- {}",
                                  m.record.name, request.lab, util::shell_join(argv)));
        }
        running_configs[shows[k]] = running_config_text(out->out);
        return {};
      });
  if (auto error = first_error(shown)) {
    return discard(*error);
  }

  // Every running node paused at once; the guard thaws whatever was paused, however this ends.
  // Containers first, then VMs: index i < members.size() is a container, else VM i - that.
  const std::size_t count = members.size() + vms.size();
  auto is_running = [&](std::size_t i) {
    return i < members.size() ? members[i].running : vms[i - members.size()].running;
  };
  std::vector<std::size_t> running;
  for (std::size_t i = 0; i < count; ++i) {
    if (is_running(i)) {
      running.push_back(i);
    }
  }
  std::vector<char> paused(count, 0);
  Clock::time_point first_paused{};
  bool resumed = false;
  auto resume = [&]() -> std::optional<Error> {
    if (resumed) {
      return std::nullopt;
    }
    resumed = true;
    auto statuses =
        in_parallel(count, std::max<int>(request.workers, count), [&](std::size_t i) -> Status {
          if (!paused[i]) {
            return {};
          }
          if (i >= members.size()) {
            return backends.vms->resume(vms[i - members.size()].domain);
          }
          return docker.unpause_container(members[i].id);
        });
    return first_error(statuses);
  };
  struct Guard {
    std::function<void()> fn;
    ~Guard() { fn(); }
  } guard{[&] { (void)resume(); }};

  first_paused = Clock::now();
  auto pausing = in_parallel(running.size(), std::max<int>(request.workers, running.size()),
                             [&](std::size_t k) -> Status {
                               const auto i = running[k];
                               if (i >= members.size()) {
                                 LTB_CHECK(backends.vms->suspend(vms[i - members.size()].domain));
                                 paused[i] = 1;
                                 return {};
                               }
                               // The cgroup freezer can fail to freeze a container whose
                               // processes are busy forking ("unable to freeze"): try again.
                               auto frozen = docker.pause_container(members[i].id);
                               for (int attempt = 1; !frozen && attempt < 3; ++attempt) {
                                 std::this_thread::sleep_for(std::chrono::milliseconds(20));
                                 frozen = docker.pause_container(members[i].id);
                               }
                               LTB_CHECK(frozen);
                               paused[i] = 1;
                               return {};
                             });
  if (auto error = first_error(pausing)) {
    (void)resume();
    return discard(*error);
  }
  // The instant: what the state file records, each node's interfaces (read from its namespace,
  // which a frozen node does not change), its startup configuration's copy and its file system.
  json taken{{"lab", request.lab},           {"mgmt_subnet", lab->mgmt_subnet},
             {"nodes", json::array()},       {"links", json::array()},
             {"interfaces", json::object()}, {"stopped", json::array()}};
  for (const auto &node : nodes) {
    taken["nodes"].push_back({{"name", node.name},
                              {"kind", node.kind},
                              {"runtime", node.runtime},
                              {"image", node.image},
                              {"mgmt_ipv4", node.mgmt_ipv4},
                              {"status", state::to_string(node.status)}});
    if (node.status == state::RecordStatus::stopped) {
      taken["stopped"].push_back(node.name);
    }
  }
  for (const auto &link : links) {
    taken["links"].push_back(link_json(link));
  }
  for (const auto &m : members) {
    if (!m.running || m.pid == 0) {
      continue;
    }
    auto ns = backends.host->netns_of_pid(m.pid);
    if (!ns) {
      (void)resume();
      return discard(ns.error());
    }
    json ifaces = json::array();
    for (const auto &name : node_ifaces(m.record.name, links)) {
      auto exists = backends.netlink->link_exists(name, ns->fd());
      if (!exists || !*exists) {
        continue; // a link not wired (failed): nothing to keep
      }
      auto snapshot = backends.netlink->snapshot_link(name, ns->fd());
      if (!snapshot) {
        (void)resume();
        return discard(snapshot.error());
      }
      ifaces.push_back(net::link_snapshot_json(*snapshot));
    }
    taken["interfaces"][m.record.name] = std::move(ifaces);
  }
  for (std::size_t i = 0; i < members.size(); ++i) {
    const auto &m = members[i];
    const auto copy = fs::path(context.lab_dir(request.lab)) / m.record.name / "startup-config";
    const auto kept = fs::path(dir) / (m.record.name + ".startup-config");
    const bool has_copy = fs::is_regular_file(copy, ec);
    ec.clear();
    if (!running_configs[i].empty() || has_copy) {
      if (!running_configs[i].empty()) {
        std::ofstream out(kept, std::ios::binary | std::ios::trunc);
        out << running_configs[i];
        out.close();
        if (!out) {
          ec = std::make_error_code(std::errc::io_error);
        }
      } else {
        fs::copy_file(copy, kept, fs::copy_options::overwrite_existing, ec);
      }
      if (ec) {
        (void)resume();
        return discard(
            Error{fmt::format("cannot write {} into the snapshot: {}", kept.string(), ec.message()),
                  "check the disk and the permissions of " + dir});
      }
      auto recorded = store.add_snapshot_artifact(
          {request.lab, outcome.name, m.record.name, "file", kept.string(),
           static_cast<std::int64_t>(fs::file_size(kept, ec))});
      if (!recorded) {
        (void)resume();
        return discard(recorded.error());
      }
    }
  }
  for (const auto &vm : vms) {
    taken["vms"][vm.record.name] = {{"disk", vm.disk},
                                    {"layer", vm.layer},
                                    {"memory", !vm.memory.empty()},
                                    {"running", vm.running}};
  }
  const std::map<std::string, std::string> base_labels{{k_label_snapshot_lab, request.lab},
                                                       {k_label_snapshot, outcome.name}};
  auto commits =
      in_parallel(count, std::max<int>(request.workers, count), [&](std::size_t i) -> Status {
        if (i >= members.size()) {
          return take_vm(backends, vms[i - members.size()]);
        }
        auto labels = base_labels;
        labels[k_label_snapshot_node] = members[i].record.name;
        LTB_TRY(id, docker.commit_container(members[i].id, members[i].image, labels));
        (void)id;
        return {};
      });
  auto thawed = resume();
  outcome.pause_ms = running.empty() ? 0 : ms_since(first_paused);
  if (auto error = first_error(commits)) {
    return discard(*error);
  }
  if (thawed) {
    session.events.notice("notice: " + thawed->message);
  }

  // What the snapshot adds on disk: each image's own layer (its size less its parent's).
  std::map<std::string, std::int64_t> base_sizes;
  for (const auto &m : members) {
    LTB_TRY(made, docker.inspect_image(m.image));
    if (!made) {
      return fail(fmt::format("the image {} of snapshot '{}' vanished as it was made", m.image,
                              outcome.name),
                  "see the Docker daemon's log; remove the snapshot (ltb snapshot rm)");
    }
    if (!base_sizes.count(m.record.image)) {
      auto base = docker.inspect_image(m.record.image);
      base_sizes[m.record.image] = base && *base ? (*base)->size_bytes : 0;
    }
    const auto own = std::max<std::int64_t>(made->size_bytes - base_sizes[m.record.image], 0);
    (void)store.set_snapshot_artifact_size(
        {request.lab, outcome.name, m.record.name, "image", m.image, own});
    outcome.size_bytes += own;
    outcome.nodes.push_back(m.record.name);
  }
  for (const auto &vm : vms) {
    for (const auto &[type, file] : {std::pair{"disk", vm.layer}, std::pair{"memory", vm.memory}}) {
      if (file.empty()) {
        continue;
      }
      const auto size = fs::file_size(file, ec);
      const std::int64_t own = ec ? 0 : static_cast<std::int64_t>(size);
      ec.clear();
      (void)store.set_snapshot_artifact_size(
          {request.lab, outcome.name, vm.record.name, type, file, own});
      outcome.size_bytes += own;
    }
    outcome.nodes.push_back(vm.record.name);
  }
  LTB_TRY(artifacts, store.snapshot_artifacts(request.lab, outcome.name));
  for (const auto &artifact : artifacts) {
    if (artifact.type == "file") {
      outcome.size_bytes += artifact.size_bytes;
    }
  }
  record.status = state::k_snapshot_complete;
  record.state = taken.dump();
  record.size_bytes = outcome.size_bytes;
  record.pause_ms = outcome.pause_ms;
  LTB_CHECK(store.put_snapshot(record));
  outcome.total_ms = ms_since(started);
  return outcome;
}

Result<SnapshotCreateOutcome> create_snapshot(const Session &session,
                                              const SnapshotCreateRequest &given) {
  LTB_TRY(connection, connect(session.context));
  LTB_TRY(owned, resolve_lab(*connection.store, session.caller, given.lab));
  auto request = given;
  request.lab = owned.name;
  LTB_TRY(nodes, connection.store->nodes(request.lab));
  if (std::any_of(nodes.begin(), nodes.end(),
                  [](const auto &node) { return node.runtime == state::k_runtime_vm; })) {
    LTB_CHECK(connection.connect_vms(true));
  }
  auto backends = connection.backends();
  LTB_TRY(outcome, create_snapshot(session, backends, request, std::time(nullptr)));
  outcome.lab = lab_shown(session.caller, outcome.lab);
  return outcome;
}

Result<std::vector<state::SnapshotRecord>>
list_snapshots(const Session &session, const std::string &named, const OwnerFilter &filter) {
  LTB_CHECK(check_filter(session.caller, filter));
  LTB_TRY(store, open_store(session.context));
  std::string lab;
  if (!named.empty()) {
    LTB_TRY(id, resolve_lab_id(*store, session.caller, named));
    lab = id;
  }
  LTB_TRY(all, store->snapshots(lab));
  std::vector<state::SnapshotRecord> out;
  for (auto &snapshot : all) {
    // A lab named: its snapshots the caller may see; else the filter's (by default their own).
    const bool visible = lab.empty() ? shows(session.caller, filter, snapshot.owner)
                                     : may_act(session.caller, snapshot.owner);
    if (snapshot.status == state::k_snapshot_complete && visible) {
      snapshot.lab = lab_shown(session.caller, snapshot.lab);
      out.push_back(std::move(snapshot));
    }
  }
  return out;
}

Result<state::SnapshotRecord> find_snapshot(state::Store &store, const Caller &caller,
                                            const std::string &named, const std::string &name) {
  LTB_TRY(lab, resolve_lab_id(store, caller, named));
  LTB_TRY(snapshot, store.snapshot(lab, name));
  if (!snapshot || !may_act(caller, snapshot->owner) ||
      snapshot->status != state::k_snapshot_complete) {
    return fail(fmt::format("lab '{}' has no snapshot named '{}'", named, name),
                "see the snapshots with `ltb snapshot list`");
  }
  return std::move(*snapshot);
}

Status remove_snapshot(const Session &session, apply::Backends &backends, const std::string &lab,
                       const std::string &name) {
  LTB_TRY(snapshot, backends.store->snapshot(lab, name));
  if (!snapshot) {
    return fail(fmt::format("lab '{}' has no snapshot named '{}'", lab, name),
                "see the snapshots with `ltb snapshot list`");
  }
  LTB_TRY(lock, state::LabLock::acquire(session.context.state_path, snapshot_lock_name(lab),
                                        session.context.wait_seconds));
  // A restored lab still runs on the snapshot's images: they stay until it goes.
  LTB_TRY(artifacts, backends.store->snapshot_artifacts(lab, name));
  LTB_TRY(users, backends.docker->list_containers({}));
  for (const auto &artifact : artifacts) {
    if (artifact.type != "image") {
      continue;
    }
    for (const auto &user : users) {
      if (user.image == artifact.ref) {
        auto lab_of = user.labels.count(plan::k_label_lab) ? user.labels.at(plan::k_label_lab)
                                                           : std::string("?");
        return fail(fmt::format("snapshot '{}' of lab '{}' is in use: container {} (lab '{}') "
                                "runs on its image {}",
                                name, lab, user.name, lab_of, artifact.ref),
                    fmt::format("remove that lab first (ltb down --lab {})", lab_of));
      }
    }
  }
  LTB_CHECK(remove_artifacts(backends, session.context, lab, name));
  LTB_CHECK(backends.store->delete_snapshot(lab, name));
  std::error_code ec;
  fs::remove(fs::path(snapshot_dir(session.context, lab, name)).parent_path(), ec); // if empty
  return {};
}

Status remove_snapshot(const Session &session, const std::string &named, const std::string &name) {
  LTB_TRY(connection, connect(session.context));
  LTB_TRY(snapshot, find_snapshot(*connection.store, session.caller, named, name));
  auto backends = connection.backends();
  return remove_snapshot(session, backends, snapshot.lab, name);
}

Result<std::string> restore_text(const state::SnapshotRecord &snapshot,
                                 const std::vector<state::SnapshotArtifact> &artifacts,
                                 const std::string &as, const std::string &restore_id) {
  YAML::Node root;
  try {
    root = YAML::Load(snapshot.topology_text);
  } catch (const YAML::Exception &e) {
    return fail(fmt::format("the topology of snapshot '{}' of lab '{}' does not load: {}",
                            snapshot.name, snapshot.lab, e.what()),
                "this snapshot cannot be restored; remove it (ltb snapshot rm)");
  }
  if (!root.IsMap()) {
    return fail(fmt::format("the topology of snapshot '{}' of lab '{}' is not a mapping",
                            snapshot.name, snapshot.lab));
  }
  auto state = json::parse(snapshot.state, nullptr, false);
  if (!as.empty()) {
    root["name"] = as;
    if (root["mgmt"] && root["mgmt"].IsMap()) {
      root["mgmt"].remove("ipv4-subnet");
      root["mgmt"].remove("network");
    }
  } else if (state.is_object() && !state.value("mgmt_subnet", "").empty()) {
    // In place: the lab keeps the subnet it had, and so its nodes their addresses.
    root["mgmt"]["ipv4-subnet"] = state.value("mgmt_subnet", "");
  }
  auto nodes = root["topology"]["nodes"];
  for (const auto &artifact : artifacts) {
    auto node = nodes[artifact.node];
    if (!node || !node.IsMap()) {
      continue;
    }
    if (artifact.type == "image") {
      node["image"] = artifact.ref;
      // A node of the lab that runs is made again even when it runs this image already (a
      // second restore of the same snapshot): the label changes its configuration.
      node["labels"][k_label_snapshot_restored] = fmt::format("{}@{}", snapshot.name, restore_id);
    } else if (artifact.type == "file") {
      node["startup-config"] = artifact.ref;
    }
  }
  // Every VM of the snapshot is made again too: on its kept disk layer, from its memory state.
  if (state.is_object()) {
    const json vms = state.value("vms", json::object());
    for (const auto &[name, vm] : vms.items()) {
      auto node = nodes[name];
      if (node && node.IsMap()) {
        node["labels"][k_label_snapshot_restored] = fmt::format("{}@{}", snapshot.name, restore_id);
      }
    }
  }
  YAML::Emitter out;
  out << root;
  return std::string(out.c_str()) + "\n";
}

std::map<std::string, apply::VmRestore>
vm_restores(const state::SnapshotRecord &snapshot,
            const std::vector<state::SnapshotArtifact> &artifacts, bool in_place,
            bool *memory_dropped) {
  std::map<std::string, apply::VmRestore> out;
  auto state = json::parse(snapshot.state, nullptr, false);
  if (!state.is_object()) {
    return out;
  }
  const json vms = state.value("vms", json::object());
  for (const auto &[name, vm] : vms.items()) {
    apply::VmRestore restore;
    restore.layer = vm.value("layer", "");
    if (vm.value("memory", false)) {
      // A lab beside the original has its own management subnet, which the guest's memory
      // does not know: its VMs boot from the kept disk instead. So does a snapshot imported
      // under another lab's name: its saved domains carry the names of the lab it was taken of.
      if (in_place && state.value("lab", snapshot.lab) == snapshot.lab) {
        for (const auto &artifact : artifacts) {
          if (artifact.node == name && artifact.type == "memory") {
            restore.memory_file = artifact.ref;
          }
        }
        restore.saved_disk = vm.value("disk", "");
      } else if (memory_dropped) {
        *memory_dropped = true;
      }
    }
    out[name] = restore;
  }
  return out;
}

Status apply_recorded_state(const Session &session, apply::Backends &backends,
                            const state::SnapshotRecord &snapshot, const std::string &lab,
                            bool in_place) {
  auto state = json::parse(snapshot.state, nullptr, false);
  if (!state.is_object()) {
    return fail(fmt::format("the recorded state of snapshot '{}' of lab '{}' is damaged",
                            snapshot.name, snapshot.lab),
                "remove the snapshot (ltb snapshot rm)");
  }
  const json interfaces = state.value("interfaces", json::object());
  std::vector<std::pair<std::string, json>> nodes;
  for (const auto &[node, ifaces] : interfaces.items()) {
    nodes.emplace_back(node, ifaces);
  }
  // The containers' names under the lab's prefix.
  LTB_TRY(lab_record, backends.store->lab(lab));
  const auto prefix = lab_record ? lab_record->container_prefix : std::nullopt;
  // Node by node in parallel: each is a round trip to Docker and a few to the kernel.
  auto restored =
      in_parallel(nodes.size(), static_cast<int>(nodes.size()), [&](std::size_t i) -> Status {
        const auto &[node, ifaces] = nodes[i];
        LTB_TRY(info, backends.docker->inspect_container(plan::container_name(lab, node, prefix)));
        if (info.pid == 0) {
          return Status{};
        }
        LTB_TRY(ns, backends.host->netns_of_pid(info.pid));
        for (const auto &iface : ifaces) {
          net::LinkSnapshot snapshot_of;
          net::read_link_snapshot(iface, snapshot_of);
          if (!in_place) {
            snapshot_of.mac.clear(); // a lab beside the original gets MACs of its own
          }
          LTB_TRY(exists, backends.netlink->link_exists(snapshot_of.name, ns.fd()));
          if (exists) {
            LTB_CHECK(backends.netlink->restore_link(snapshot_of, ns.fd()));
          }
        }
        return Status{};
      });
  if (auto error = first_error(restored)) {
    return fail(*error);
  }
  for (const auto &link : state.value("links", json::array())) {
    for (const auto &[end, node_key, iface_key] : {std::tuple{"override_a", "a_node", "a_iface"},
                                                   std::tuple{"override_b", "b_node", "b_iface"}}) {
      if (!link.contains(end)) {
        continue;
      }
      auto decoded = topology::decode_impairments(link.value(end, ""));
      if (!decoded) {
        continue;
      }
      LinkSetRequest set;
      set.lab = lab;
      set.target = link.value(node_key, "") + ":" + link.value(iface_key, "");
      set.reset = true;
      for (const auto &[field, value] : topology::impairment_fields(*decoded)) {
        set.values[field] = value;
      }
      if (!set.values.empty()) {
        LTB_TRY(changed, set_link(session, backends, set));
        (void)changed;
      }
    }
    if (link.value("down", false)) {
      LinkStateRequest down{lab, link.value("name", ""), false};
      LTB_TRY(changed, set_link_state(session, backends, down));
      (void)changed;
    }
  }
  return {};
}

namespace {

Result<SnapshotRestoreOutcome> run_restore(const Session &session, Connection &connection,
                                           const SnapshotRestoreRequest &request,
                                           const state::SnapshotRecord &snapshot,
                                           const std::vector<state::SnapshotArtifact> &artifacts) {
  const auto started = Clock::now();
  auto &store = *connection.store;
  const bool in_place = request.as.empty() || request.as == request.lab;
  const std::string target = in_place ? request.lab : request.as;
  LTB_TRY(text, restore_text(snapshot, artifacts, in_place ? std::string() : target,
                             std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count())));
  LTB_CHECK(
      check_bind_sources(snapshot, text, fs::path(snapshot.topology_file).parent_path().string()));
  // Marked before the lab changes: a killed restore is run again by the next ltb command.
  LTB_CHECK(store.set_meta(
      k_restore_key + target,
      json{{"lab", request.lab}, {"name", request.name}, {"as", request.as}}.dump()));
  // In place, the lab is not removed first: every container node carries a label of this
  // restore (restore_text), so the planner recreates each from the snapshot's image and rewires
  // its links, while the management network and the bridges stay.
  const auto base_dir = snapshot.topology_file.empty()
                            ? std::string()
                            : fs::path(snapshot.topology_file).parent_path().string();
  DeployRequest deploy;
  deploy.workers = request.workers;
  // A confined lab's snapshot restores confined, in place and as another lab.
  LTB_TRY(source_lab, store.lab(request.lab));
  deploy.confined = source_lab && source_lab->confined;
  // Whoever restores (or finishes a killed restore), the lab is its id's owner's.
  deploy.owner = lab_id_owner(target);
  bool memory_dropped = false;
  deploy.vm_restores = vm_restores(snapshot, artifacts, in_place, &memory_dropped);
  if (memory_dropped) {
    session.events.notice(fmt::format(
        "notice: lab {} gets a management subnet of its own, which the VMs' saved memory does "
        "not know: they boot from the snapshot's disks (restore in place to resume them)",
        target));
  }
  LTB_TRY(deployed,
          deploy_text(session, connection, text, target, snapshot.topology_file, base_dir, deploy));
  if (!deployed.ok()) {
    return fail(fmt::format("cannot restore snapshot '{}' of lab '{}' as lab '{}': {}",
                            request.name, request.lab, target,
                            failure_summary(deployed.errors, deployed.interrupted)),
                "see `ltb status`; run the restore again");
  }
  auto backends = connection.backends();
  LTB_CHECK(apply_recorded_state(session, backends, snapshot, target, in_place));
  auto state = json::parse(snapshot.state, nullptr, false);
  std::vector<std::string> stopped = state.value("stopped", std::vector<std::string>{});
  if (!stopped.empty()) {
    LifecycleRequest stop;
    stop.lab = target;
    stop.nodes = stopped;
    LTB_TRY(changed, change_lab(session, connection, LifecycleAction::stop, stop));
    if (!changed.ok()) {
      return fail(fmt::format("lab '{}' is restored, but stopping {} again failed", target,
                              fmt::join(stopped, ", ")),
                  "stop them by hand (ltb stop)");
    }
  }
  LTB_CHECK(store.delete_meta(k_restore_key + target));
  SnapshotRestoreOutcome outcome;
  outcome.lab = target;
  for (const auto &node : state.value("nodes", json::array())) {
    outcome.nodes.push_back(node.value("name", ""));
  }
  outcome.total_ms = ms_since(started);
  return outcome;
}

Result<SnapshotRestoreOutcome> restore_on(const Session &session, Connection &connection,
                                          const SnapshotRestoreRequest &request, bool resuming) {
  auto &store = *connection.store;
  LTB_TRY(snapshot, store.snapshot(request.lab, request.name));
  if (!snapshot || snapshot->status != state::k_snapshot_complete) {
    return fail(fmt::format("lab '{}' has no snapshot named '{}'", request.lab, request.name),
                "see the snapshots with `ltb snapshot list`");
  }
  const bool in_place = request.as.empty() || request.as == request.lab;
  if (!in_place && !resuming) {
    LTB_TRY(taken, store.lab(request.as));
    if (taken) {
      return fail(fmt::format("lab '{}' exists already", request.as),
                  "choose another name for --as, or remove that lab (ltb down --lab " + request.as +
                      ")");
    }
  }
  LTB_TRY(lock, state::LabLock::acquire(session.context.state_path, snapshot_lock_name(request.lab),
                                        session.context.wait_seconds));
  LTB_TRY(artifacts, store.snapshot_artifacts(request.lab, request.name));
  for (const auto &artifact : artifacts) {
    if (artifact.type == "image") {
      LTB_TRY(present, connection.docker->image_present(artifact.ref));
      if (!present) {
        return fail(fmt::format("snapshot '{}' of lab '{}' lost its image {} (removed outside "
                                "ltb)",
                                request.name, request.lab, artifact.ref),
                    "the snapshot cannot be restored; remove it (ltb snapshot rm)");
      }
    }
  }
  return run_restore(session, connection, request, *snapshot, artifacts);
}

} // namespace

Result<SnapshotRestoreOutcome> restore_snapshot(const Session &session,
                                                const SnapshotRestoreRequest &given) {
  LTB_TRY(connection, connect(session.context));
  LTB_TRY(snapshot, find_snapshot(*connection.store, session.caller, given.lab, given.name));
  auto request = given;
  request.lab = snapshot.lab;
  if (!request.as.empty()) {
    request.as = lab_id(session.caller.name, request.as);
  }
  LTB_TRY(outcome, restore_on(session, connection, request, false));
  outcome.lab = lab_shown(session.caller, outcome.lab);
  return outcome;
}

Status recover_snapshots(const Session &session, apply::Backends &backends) {
  auto &store = *backends.store;
  LTB_TRY(all, store.snapshots());
  for (const auto &snapshot : all) {
    if (snapshot.status != state::k_snapshot_creating) {
      continue;
    }
    auto lock =
        state::LabLock::acquire(session.context.state_path, snapshot_lock_name(snapshot.lab), 0);
    if (!lock) {
      continue; // its ltb still runs
    }
    LTB_TRY(resumed, resume_paused(backends, snapshot.lab));
    LTB_CHECK(remove_artifacts(backends, session.context, snapshot.lab, snapshot.name));
    // Docker finishes a commit whose client was killed: images of the snapshot may still appear.
    // Remove them until none has shown up for a while (a commit of a lab's changes takes
    // seconds at most).
    const std::map<std::string, std::string> labels{{k_label_snapshot_lab, snapshot.lab},
                                                    {k_label_snapshot, snapshot.name}};
    auto quiet_since = Clock::now();
    for (auto deadline = Clock::now() + std::chrono::seconds(10);
         Clock::now() < deadline && Clock::now() - quiet_since < std::chrono::milliseconds(1500);) {
      std::this_thread::sleep_for(std::chrono::milliseconds(250));
      LTB_TRY(late, backends.docker->list_images(labels));
      if (!late.empty()) {
        LTB_CHECK(remove_artifacts(backends, session.context, snapshot.lab, snapshot.name));
        quiet_since = Clock::now();
      }
    }
    LTB_CHECK(store.delete_snapshot(snapshot.lab, snapshot.name));
    session.events.notice(fmt::format(
        "notice: lab {}: removed the half-made snapshot '{}' of a killed `ltb snapshot create`{}",
        snapshot.lab, snapshot.name,
        resumed.empty() ? std::string()
                        : fmt::format(" and resumed {} it left paused", fmt::join(resumed, ", "))));
  }
  return {};
}

Status recover_snapshots(const Session &session) {
  // Nothing to do without a state file, and nothing to create either.
  std::error_code ec;
  if (!fs::exists(session.context.state_path, ec)) {
    return {};
  }
  // A state file this user cannot open is the command's own business to report.
  auto opened = open_store(session.context);
  if (!opened) {
    return {};
  }
  auto store = std::move(*opened);
  LTB_TRY(all, store->snapshots());
  const bool creating = std::any_of(
      all.begin(), all.end(), [](const auto &s) { return s.status == state::k_snapshot_creating; });
  LTB_TRY(markers, store->meta_with_prefix(k_restore_key));
  std::vector<std::pair<std::string, json>> restores;
  for (const auto &[key, value] : markers) {
    restores.emplace_back(key.substr(std::string_view(k_restore_key).size()),
                          json::parse(value, nullptr, false));
  }
  if (!creating && restores.empty()) {
    return {};
  }
  store.reset();
  LTB_TRY(connection, connect(session.context));
  LTB_CHECK(connection.connect_vms(false)); // a killed create may have left VMs paused
  auto backends = connection.backends();
  if (creating) {
    LTB_CHECK(recover_snapshots(session, backends));
  }
  for (const auto &[target, marker] : restores) {
    if (!marker.is_object()) {
      continue;
    }
    SnapshotRestoreRequest request;
    request.lab = marker.value("lab", "");
    request.name = marker.value("name", "");
    request.as = marker.value("as", "");
    {
      // Held by a restore that still runs.
      auto lock =
          state::LabLock::acquire(session.context.state_path, snapshot_lock_name(request.lab), 0);
      if (!lock) {
        continue;
      }
    }
    if (may_act(session.caller, lab_id_owner(target))) {
      session.events.notice(fmt::format("notice: lab {}: finishing the restore of snapshot '{}' "
                                        "that a killed `ltb snapshot restore` left",
                                        lab_shown(session.caller, target), request.name));
    }
    // Finished on behalf of the lab's owner, whoever's command came first.
    const Caller system{0, "root", true, {}};
    const Session as_system{session.context, system, session.cancel, session.events};
    LTB_TRY(restored, restore_on(as_system, connection, request, true));
    (void)restored;
  }
  return {};
}

} // namespace ltb::service
