// The container driver: a node is a Docker container on the lab's management network, its links
// are interfaces in the container's network namespace.

#include "access/install.hpp"
#include "apply/drivers/driver.hpp"
#include "net/link_json.hpp"
#include "plan/names.hpp"
#include "topology/kinds.hpp"
#include "util/shell_split.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

namespace ltb::apply {

namespace {

namespace fs = std::filesystem;

class ContainerDriver final : public NodeDriver {
public:
  topology::Runtime runtime() const override { return topology::Runtime::container; }
  state::ObjectType object_type() const override { return state::ObjectType::container; }

  Status observe(Backends &b, const std::string &lab, plan::Observed &observed) override {
    LTB_TRY(containers, b.docker->list_containers({{plan::k_label_lab, lab}}));
    for (const auto &container : containers) {
      auto node = container.labels.find(plan::k_label_node);
      if (node == container.labels.end()) {
        continue;
      }
      auto hash = container.labels.find(plan::k_label_hash);
      observed.containers[node->second] = {container.id, container.name, container.state,
                                           hash == container.labels.end() ? "" : hash->second,
                                           container.health};
    }
    return {};
  }

  std::string config_hash(const topology::Topology &, const topology::Node &node) const override {
    return topology::node_config_hash(node);
  }

  Status create(Run &run, const plan::Action &action) override {
    const auto *node = run.node(action.node);
    auto context = [&](Error e) { return fail(with_context("node " + action.node, std::move(e))); };
    run.phase(action.node, Phase::creating);
    if (auto ok = ensure_image(run, node->image, action.node); !ok) {
      return context(ok.error());
    }
    if (auto waited = wait_before_create(run, *node); !waited) {
      return context(waited.error());
    }
    auto spec = container_spec(run, *node);
    if (!spec) {
      return context(spec.error());
    }
    // The lab's key for root is a bind made now; for another login, an exec once it runs.
    auto key_bind =
        access::lab_key_bind(run.options.lab_dir, node->name, node->username, node->binds);
    if (!key_bind) {
      run.progress.notice(fmt::format("notice: node {}: {}", node->name, key_bind.error().message));
    } else if (*key_bind) {
      spec->binds.push_back(**key_bind);
    }
    auto &store = *run.b.store;
    state::NodeRecord record{run.plan.lab,
                             node->name,
                             node->kind,
                             node->image,
                             topology::node_config_hash(*node),
                             spec->ipv4,
                             "",
                             state::RecordStatus::creating};
    record.runtime = state::k_runtime_container;
    std::int64_t object_id = 0;
    LTB_CHECK(store.transaction([&]() -> Status {
      LTB_CHECK(store.put_node(record));
      LTB_TRY(id, run.record_object(state::ObjectType::container, spec->name, node->name));
      object_id = id;
      return {};
    }));
    auto id = run.b.docker->create_container(*spec);
    if (!id) {
      return context(id.error());
    }
    LTB_CHECK(store.update_object(object_id, *id, state::RecordStatus::creating));
    if (auto started = run.b.docker->start_container(*id); !started) {
      return context(started.error());
    }
    auto info = run.b.docker->inspect_container(*id);
    if (!info) {
      return context(info.error());
    }
    if (info->state != "running" || info->pid <= 0) {
      return fail(
          fmt::format("node {}: container {} stopped right after it started (state {})", node->name,
                      spec->name, info->state),
          fmt::format("see `docker logs {}`: the image's command may have exited", spec->name));
    }
    run.book.set_container(node->name, {*id, info->pid});
    record.runtime_id = *id;
    if (spec->network_mode.empty()) {
      if (record.mgmt_ipv4.empty()) {
        record.mgmt_ipv4 = info->ipv4; // Docker's, on a network ltb joined (network_external)
      }
      // The file's mgmt-ipv6, or Docker's from the network's IPv6 subnet.
      record.mgmt_ipv6 = !spec->ipv6.empty() ? spec->ipv6 : info->ipv6;
    }
    run.book.settle(record);
    LTB_CHECK(store.transaction([&]() -> Status {
      LTB_CHECK(store.put_node(record));
      return store.update_object(object_id, *id, state::RecordStatus::created);
    }));
    // Best effort: without the key, `ltb ssh` falls back to the password.
    if (!key_bind || !*key_bind) {
      if (auto keyed =
              access::install_lab_key(*run.b.docker, run.options.lab_dir, *id, node->username);
          !keyed) {
        run.progress.notice(fmt::format("notice: node {}: {}", node->name, keyed.error().message));
      }
    }
    if (record.status != state::RecordStatus::running) {
      run.phase(node->name, Phase::wiring);
    }
    return {};
  }

  Status remove(Run &run, const plan::Action &action) override {
    if (!action.node.empty()) {
      run.phase(action.node, Phase::removing);
    }
    if (auto removed = run.b.docker->remove_container(action.name); !removed) {
      return fail(with_context("node " + action.node + " (" + action.name + ")", removed.error()));
    }
    if (!action.node.empty()) {
      LTB_CHECK(run.b.store->delete_node(run.plan.lab, action.node));
      // Its kept namespace, if it was stopped, goes with the link interfaces in it (their peers
      // too: the node's links are wired again to its new container, or removed with it).
      LTB_CHECK(release_stopped_netns(run, action.node));
      LTB_CHECK(run.forget_owned(state::ObjectType::parked, action.node));
    }
    return run.forget_objects(state::ObjectType::container, {action.name});
  }

  /// A container's network namespace ends with it, and the veth ends in it with the namespace
  /// (their peers too). So its namespace is first kept under a name (stopped_netns_name): it
  /// outlives the container with the link interfaces in it, untouched, and each is recorded with
  /// what its move into the next container's namespace will lose (addresses, routes, up state).
  /// The peers never notice more than a carrier loss. Nothing is moved at stop (containerlab
  /// moves each interface into a parking namespace): a move between namespaces waits for an RCU
  /// barrier under the kernel's RTNL lock, one move at a time host-wide (~15 ms each), so the
  /// stop of a lab would wait for all its interfaces in turn.
  Status stop(Run &run, const plan::Action &action) override {
    const auto &node = action.node;
    auto context = [&](Error e) { return fail(with_context("node " + node, std::move(e))); };
    run.phase(node, Phase::stopping);
    auto info = run.b.docker->inspect_container(action.name);
    if (!info) {
      return context(info.error());
    }
    if (info->state == "running" && info->pid > 0) {
      if (auto parked = park_links(run, action, info->pid); !parked) {
        return context(parked.error());
      }
      if (auto stopped = run.b.docker->stop_container(info->id, run.options.stop_timeout);
          !stopped) {
        // It still runs: its links go back to it rather than waiting for a start.
        if (auto back = unpark_links(run, action, info->pid); !back) {
          run.progress.notice(fmt::format("notice: node {}: its links stay parked ({}); "
                                          "`ltb start` brings them back",
                                          node, back.error().message));
        }
        return context(stopped.error());
      }
    }
    return run.set_node_status(node, state::RecordStatus::stopped);
  }

  /// Starts the container and moves its kept interfaces into its new namespace, restoring
  /// their names, addresses, routes and up state, then the links' settings; the kept namespace
  /// goes once it holds none of them any more. A link whose
  /// interface was lost meanwhile (the container stopped outside ltb) is recorded failed, so
  /// that `ltb up` wires it again.
  Status start(Run &run, const plan::Action &action) override {
    const auto &node = action.node;
    auto context = [&](Error e) { return fail(with_context("node " + node, std::move(e))); };
    run.phase(node, Phase::starting);
    if (auto started = run.b.docker->start_container(action.name); !started) {
      return context(started.error());
    }
    auto info = run.b.docker->inspect_container(action.name);
    if (!info) {
      return context(info.error());
    }
    if (info->state != "running" || info->pid <= 0) {
      return fail(fmt::format("node {}: container {} stopped right after it started (state {})",
                              node, action.name, info->state),
                  fmt::format("see `docker logs {}`", action.name));
    }
    run.book.set_container(node, {info->id, info->pid});
    LTB_TRY(lost, unpark_links(run, action, info->pid));
    LTB_CHECK(run.set_node_status(node, state::RecordStatus::running, info->id));
    if (!lost.empty()) {
      std::string names;
      for (const auto &name : lost) {
        names += (names.empty() ? "" : ", ") + name;
      }
      return fail(fmt::format("node {} runs, but its link{} {} did not survive the stop (it "
                              "was stopped outside ltb)",
                              node, lost.size() == 1 ? "" : "s", names),
                  "run `ltb up` to wire them again");
    }
    return {};
  }

  /// The running container of a node: from this run, or inspected once.
  Result<Endpoint> endpoint(Run &run, const std::string &node) override {
    if (auto known = run.book.container(node)) {
      return Endpoint{Endpoint::Kind::netns, known->pid, known->id};
    }
    auto info = run.b.docker->inspect_container(
        plan::container_name(run.plan.lab, node, run.plan.container_prefix));
    if (!info) {
      return fail(with_context("node " + node, info.error()));
    }
    if (info->state != "running" || info->pid <= 0) {
      return fail(fmt::format("node {} is not running (state {})", node, info->state),
                  fmt::format("start it (`ltb start {} --node {}`), or run `ltb up` again to "
                              "recreate it",
                              run.plan.lab, node));
    }
    run.book.set_container(node, {info->id, info->pid});
    return Endpoint{Endpoint::Kind::netns, info->pid, info->id};
  }

  /// Runs the node's exec commands in order. A command that fails is, as containerlab does,
  /// reported and skipped (the node's record keeps it for `ltb status`, the summary of `ltb up`
  /// lists it); with settings.exec-failures: fail, the first one fails the node instead.
  Status configure(Run &run, const plan::Action &action) override {
    const auto *node = run.node(action.node);
    run.phase(action.node, Phase::configuring);
    LTB_TRY(container, endpoint(run, action.node));
    const bool fatal = run.desired && run.desired->exec_failures_fatal;
    std::vector<std::string> failures;
    for (const auto &command : node->exec) {
      auto result = run.b.docker->exec(container.runtime_id, {"sh", "-c", command});
      std::string problem;
      if (!result) {
        if (fatal) {
          return fail(with_context(fmt::format("node {}: exec `{}`", action.node, command),
                                   result.error()));
        }
        problem = result.error().message;
      } else if (result->exit_code != 0) {
        auto output = result->err.empty() ? result->out : result->err;
        while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) {
          output.pop_back();
        }
        if (action.why != plan::Reason::node_created) {
          // A re-run for rewired links: commands for untouched interfaces may fail as "exists".
          run.progress.notice(fmt::format("notice: node {}: exec `{}` exited with status {} on a "
                                          "re-run for rewired links (ignored){}{}",
                                          action.node, command, result->exit_code,
                                          output.empty() ? "" : ": ", output));
          continue;
        }
        problem = fmt::format("exited with status {}{}{}", result->exit_code,
                              output.empty() ? "" : ": ", output);
        if (fatal) {
          return fail(fmt::format("node {}: exec `{}` {}", action.node, command, problem),
                      "fix the command in the topology file's exec list, then run `ltb up` "
                      "again (settings.exec-failures: fail makes a failing command fatal)");
        }
      } else {
        continue;
      }
      failures.push_back(fmt::format("exec `{}` {}", command, problem));
      run.progress.notice(
          fmt::format("warning: node {}: {} (going on; settings.exec-failures: fail stops here)",
                      action.node, failures.back()));
    }
    if (action.why == plan::Reason::node_created || !failures.empty()) {
      return run.b.store->set_exec_errors(run.plan.lab, action.node, failures);
    }
    return {};
  }

  Access access() const override { return {Access::Exec::docker, false, Access::Capture::netns}; }

private:
  /// The node's end of each of its links.
  static std::vector<std::pair<const plan::PlannedLink *, std::string>>
  ends_of(const Run &run, const plan::Action &action) {
    std::vector<std::pair<const plan::PlannedLink *, std::string>> ends;
    for (const auto &key : action.links) {
      auto it = run.plan.links.find(key);
      if (it == run.plan.links.end()) {
        continue;
      }
      const auto &link = it->second;
      ends.emplace_back(&link, link.a.node == action.node ? link.a.iface : link.b.iface);
    }
    return ends;
  }

  /// Keeps the node's namespace under its name and records each link end in it (see stop()).
  /// When anything fails the node is left running, with its links.
  static Status park_links(Run &run, const plan::Action &action, int pid) {
    const auto &lab = run.plan.lab;
    auto &store = *run.b.store;
    auto ends = ends_of(run, action);
    if (ends.empty()) {
      return {};
    }
    const auto kept_ns = plan::stopped_netns_name(lab, action.node);
    LTB_TRY(ns, run.b.host->netns_of_pid(pid));
    std::vector<state::ObjectRecord> records;
    for (const auto &[link, iface] : ends) {
      LTB_TRY(present, run.b.netlink->link_exists(iface, ns.fd()));
      if (!present) {
        continue; // never wired, or kept by an earlier stop that did not finish
      }
      LTB_TRY(snapshot, run.b.netlink->snapshot_link(iface, ns.fd()));
      state::ObjectRecord object{0,
                                 lab,
                                 state::ObjectType::parked,
                                 plan::park_iface_name(lab, link->key, action.node),
                                 action.node,
                                 "",
                                 link->key,
                                 state::RecordStatus::creating};
      object.detail = snapshot_json(snapshot, kept_ns);
      records.push_back(std::move(object));
    }
    if (records.empty()) {
      return {};
    }
    // The records first (one transaction for the node), then the namespace's name: a run killed
    // in between leaves records that `ltb down` follows, never a namespace nobody knows.
    LTB_TRY(objects, store.objects(lab));
    std::vector<std::int64_t> ids;
    LTB_CHECK(store.transaction([&]() -> Status {
      bool named = false;
      for (const auto &object : objects) {
        named = named || (object.type == state::ObjectType::netns && object.name == kept_ns);
        const bool rewritten = object.type == state::ObjectType::parked &&
                               std::any_of(records.begin(), records.end(), [&](const auto &record) {
                                 return record.name == object.name;
                               });
        if (rewritten) {
          LTB_CHECK(store.delete_object(object.id));
        }
      }
      if (!named) {
        LTB_TRY(id, store.add_object({0, lab, state::ObjectType::netns, kept_ns, action.node, "",
                                      "", state::RecordStatus::creating}));
        ids.push_back(id);
      }
      for (const auto &record : records) {
        LTB_TRY(id, store.add_object(record));
        ids.push_back(id);
      }
      return {};
    }));
    if (auto held = run.b.host->hold_netns(pid, kept_ns); !held) {
      (void)store.transaction([&]() -> Status {
        for (auto id : ids) {
          LTB_CHECK(store.delete_object(id));
        }
        return {};
      });
      return held;
    }
    return store.transaction([&]() -> Status {
      for (auto id : ids) {
        LTB_CHECK(store.update_object(id, "", state::RecordStatus::created));
      }
      return {};
    });
  }

  /// Where a parked link end is: the namespace and the interface's name in it. Records written
  /// before ltb kept each stopped container's namespace name the lab's parking namespace.
  struct ParkedPlace {
    std::string netns;
    std::string iface;
  };
  static ParkedPlace parked_place(const Run &run, const state::ObjectRecord &object) {
    try {
      auto json = nlohmann::json::parse(object.detail);
      if (json.contains("netns")) {
        return {json.value("netns", ""), json.value("name", "")};
      }
    } catch (const std::exception &) {
      // unreadable: parse_snapshot() says so
    }
    return {plan::park_netns_name(run.plan.lab), object.name};
  }

  /// Returns the names of the links whose interface is neither parked nor in the node.
  static Result<std::vector<std::string>> unpark_links(Run &run, const plan::Action &action,
                                                       int pid) {
    const auto &lab = run.plan.lab;
    auto &store = *run.b.store;
    std::vector<std::string> lost;
    auto ends = ends_of(run, action);
    LTB_TRY(objects, store.objects(lab));
    std::map<std::string, state::ObjectRecord> parked;
    for (const auto &object : objects) {
      if (object.type == state::ObjectType::parked && object.owner == action.node) {
        parked[object.name] = object;
      }
    }
    if (ends.empty() && parked.empty()) {
      return lost;
    }
    LTB_TRY(ns, run.b.host->netns_of_pid(pid));
    // Each namespace that holds parked ends, opened once (null when it is gone).
    std::map<std::string, std::unique_ptr<net::Netns>> spaces;
    auto space = [&](const std::string &name) -> const net::Netns * {
      auto it = spaces.find(name);
      if (it == spaces.end()) {
        auto opened = run.b.host->open_netns(name);
        it = spaces
                 .emplace(name, opened ? std::make_unique<net::Netns>(std::move(*opened)) : nullptr)
                 .first;
      }
      return it->second.get();
    };
    std::vector<std::int64_t> done; // parked records of ends that are back (or lost for good)
    auto moved = [&]() -> Status {
      for (const auto &[link, iface] : ends) {
        const auto parked_name = plan::park_iface_name(lab, link->key, action.node);
        auto it = parked.find(parked_name);
        bool back = false;
        if (it != parked.end()) {
          const auto place = parked_place(run, it->second);
          if (const auto *from = space(place.netns)) {
            LTB_TRY(there, run.b.netlink->link_exists(place.iface, from->fd()));
            if (there) {
              LTB_TRY(snapshot, parse_snapshot(it->second.detail, iface));
              if (auto moved = run.b.netlink->move_link(place.iface, from->fd(), ns.fd(), iface);
                  !moved) {
                return fail(with_context("link " + link->name, moved.error()));
              }
              if (auto restored = run.b.netlink->restore_link(snapshot, ns.fd()); !restored) {
                return fail(with_context("link " + link->name, restored.error()));
              }
              back = true;
            }
          }
          done.push_back(it->second.id);
        }
        if (!back) {
          LTB_TRY(present, run.b.netlink->link_exists(iface, ns.fd()));
          if (!present) {
            lost.push_back(link->name);
            auto record = link_record(run, *link, state::RecordStatus::failed);
            LTB_CHECK(keep_name(run, record));
            continue;
          }
        }
        // What the link carried on this end (impairments) went with the old namespace's qdiscs:
        // nothing is applied on it now, so configure() applies this end's direction again.
        plan::PlannedLink moved = *link;
        (moved.a.node == action.node ? moved.applied_a : moved.applied_b) = {};
        if (auto configured = link_driver(link_type(run, moved)).configure(run, moved);
            !configured) {
          return fail(with_context("link " + link->name, configured.error()));
        }
      }
      return {};
    }();
    if (moved) {
      // Every end is back: records of ends whose links are no longer recorded go too, and so
      // does the kept namespace, with whatever is left in it.
      done.clear();
      for (const auto &[name, object] : parked) {
        done.push_back(object.id);
      }
    }
    LTB_CHECK(store.transaction([&]() -> Status {
      for (auto id : done) {
        LTB_CHECK(store.delete_object(id));
      }
      return {};
    }));
    LTB_CHECK(moved);
    LTB_CHECK(release_stopped_netns(run, action.node));
    return lost;
  }

  /// Removes the namespace a stop kept for the node, if any, and its record.
  static Status release_stopped_netns(Run &run, const std::string &node) {
    const auto name = plan::stopped_netns_name(run.plan.lab, node);
    LTB_TRY(objects, run.b.store->objects(run.plan.lab));
    for (const auto &object : objects) {
      if (object.type == state::ObjectType::netns && object.name == name) {
        if (auto deleted = run.b.host->delete_netns(name); !deleted) {
          return fail(with_context("node " + node, deleted.error()));
        }
        return run.b.store->delete_object(object.id);
      }
    }
    return {};
  }

  /// Writes a link record as failed, keeping the recorded display name.
  static Status keep_name(Run &run, state::LinkRecord record) {
    LTB_TRY(links, run.b.store->links(run.plan.lab));
    for (const auto &existing : links) {
      if (existing.key == record.key) {
        auto failed = existing;
        failed.status = state::RecordStatus::failed;
        return run.b.store->put_link(failed);
      }
    }
    return run.b.store->put_link(record);
  }

  static std::string snapshot_json(const net::LinkSnapshot &snapshot, const std::string &netns) {
    auto json = net::link_snapshot_json(snapshot);
    json["netns"] = netns;
    return json.dump();
  }

  static Result<net::LinkSnapshot> parse_snapshot(const std::string &text,
                                                  const std::string &iface) {
    net::LinkSnapshot snapshot;
    snapshot.name = iface;
    snapshot.up = true;
    if (text.empty()) {
      return snapshot; // recorded by a stop that did not finish: at least bring it up
    }
    try {
      net::read_link_snapshot(nlohmann::json::parse(text), snapshot);
      snapshot.name = iface; // the record's key, whatever the text says
    } catch (const std::exception &e) {
      return fail(fmt::format("the recorded state of parked interface {} is unreadable ({})", iface,
                              e.what()),
                  "its addresses are lost: set them again in the node");
    }
    return snapshot;
  }

  /// The image is there, or pulled once for the whole run however many nodes use it.
  static Status ensure_image(Run &run, const std::string &image, const std::string &node) {
    std::promise<Status> promise;
    bool mine = false;
    auto future = run.book.image(image, promise, mine);
    if (mine) {
      promise.set_value([&]() -> Status {
        // Docker not answering is said as it is (which service, what to do), not as a missing
        // image.
        LTB_TRY(present, run.b.docker->image_present(image));
        if (present) {
          return {};
        }
        run.phase(node, Phase::pulling, image);
        auto pulled = run.b.docker->pull_image(
            image, [&](const std::string &line) { run.phase(node, Phase::pulling, line); });
        if (!pulled) {
          return fail(
              fmt::format("image '{}' is not available: {}", image, pulled.error().message),
              "build it (make images) or make it pullable; ltb pulls images that a registry has");
        }
        return {};
      }());
    }
    return future.get();
  }

  static Result<runtime::ContainerSpec> container_spec(Run &run, const topology::Node &node) {
    runtime::ContainerSpec spec;
    spec.name = plan::container_name(run.plan.lab, node.name, run.plan.container_prefix);
    spec.hostname = node.name;
    spec.image = node.image;
    if (!node.cmd.empty()) {
      auto words = util::shell_split(node.cmd);
      if (!words) {
        return fail("cmd has an unterminated quote", "", ExitCode::usage);
      }
      spec.cmd = *words;
    }
    if (!node.entrypoint.empty()) {
      auto words = util::shell_split(node.entrypoint);
      if (!words) {
        return fail("entrypoint has an unterminated quote", "", ExitCode::usage);
      }
      spec.entrypoint = *words;
    }
    spec.env = node.env;
    spec.labels = node.labels;
    spec.labels[plan::k_label_lab] = run.plan.lab;
    spec.labels[plan::k_label_node] = node.name;
    spec.labels[plan::k_label_owner] = run.options.owner;
    spec.labels[plan::k_label_hash] = topology::node_config_hash(node);
    spec.binds = node.binds;
    LTB_CHECK(kind_mounts(run, node, spec));
    if (!node.startup_config_path.empty() &&
        (!node.startup_config.empty() || !node.startup_config_text.empty())) {
      // The node gets its own copy, in the lab directory and writable, so that what the node
      // saves (FRR's `write memory`) lasts across its restarts and `ltb save` while the lab
      // file's startup-config stays as written. A recreated node starts from the file again.
      auto dir = fs::path(run.options.lab_dir) / node.name;
      std::error_code ec;
      fs::create_directories(dir, ec);
      const auto copy = (dir / "startup-config").string();
      if (!node.startup_config.empty()) {
        fs::copy_file(node.startup_config, copy, fs::copy_options::overwrite_existing, ec);
        if (ec) {
          return fail(fmt::format("cannot copy the startup configuration {} to {}: {}",
                                  node.startup_config, copy, ec.message()),
                      "check that the file exists and is readable");
        }
      } else {
        std::ofstream out(copy, std::ios::trunc);
        out << node.startup_config_text;
        if (!out) {
          return fail(fmt::format("cannot write the startup configuration to {}", copy));
        }
      }
      spec.binds.push_back(copy + ":" + node.startup_config_path);
    }
    if (node.confined) {
      spec.confined = true;
      spec.privileged = false;
      if (const auto *kind = topology::find_kind(node.kind)) {
        spec.capabilities.assign(kind->confined_capabilities.begin(),
                                 kind->confined_capabilities.end());
        for (const auto &sysctl : kind->confined_sysctls) {
          const auto equals = sysctl.find('=');
          spec.sysctls[std::string(sysctl.substr(0, equals))] =
              std::string(sysctl.substr(equals + 1));
        }
      }
    }
    spec.network = run.plan.network;
    if (auto address = run.plan.addresses.find(node.name); address != run.plan.addresses.end()) {
      spec.ipv4 = address->second;
    }
    if (auto address = run.plan.addresses6.find(node.name); address != run.plan.addresses6.end()) {
      spec.ipv6 = address->second;
    }
    spec.cpus = node.cpus;
    spec.memory_bytes = node.memory_bytes;
    LTB_CHECK(containerlab_options(run, node, spec));
    return spec;
  }

  /// The node's own directories a vendor kind keeps its configuration in (Kind::mounts), made
  /// under LAB_DIR/NODE/ and kept across the node's restarts; a bind of the file's to the same
  /// place wins.
  static Status kind_mounts(Run &run, const topology::Node &node, runtime::ContainerSpec &spec) {
    const auto *kind = topology::find_kind(node.kind);
    if (!kind) {
      return {};
    }
    for (const auto &mount : kind->mounts) {
      const bool taken = std::any_of(node.binds.begin(), node.binds.end(), [&](const auto &bind) {
        const auto colon = bind.find(':');
        const auto target = bind.substr(colon + 1, bind.find(':', colon + 1) - colon - 1);
        return colon != std::string::npos &&
               fs::path(target).lexically_normal() == fs::path(mount.target).lexically_normal();
      });
      if (taken) {
        continue;
      }
      const auto dir = fs::path(run.options.lab_dir) / node.name / mount.dir;
      std::error_code ec;
      fs::create_directories(dir, ec);
      if (ec) {
        return fail(fmt::format("node {}: cannot make its directory {}: {}", node.name,
                                dir.string(), ec.message()),
                    "check that the lab directory is writable");
      }
      spec.binds.push_back(fmt::format("{}:{}", dir.string(), mount.target));
    }
    return {};
  }

  /// containerlab's container options (topology::Node), as Docker takes them.
  static Status containerlab_options(Run &run, const topology::Node &node,
                                     runtime::ContainerSpec &spec) {
    if (node.network_mode.rfind("container:", 0) == 0) {
      const auto other = node.network_mode.substr(10);
      // A node of the lab by its container's name; any other container as named.
      spec.network_mode =
          "container:" + (run.desired && run.desired->find_node(other)
                              ? plan::container_name(run.plan.lab, other, run.plan.container_prefix)
                              : other);
    } else {
      spec.network_mode = node.network_mode;
    }
    if (!spec.network_mode.empty()) {
      spec.ipv4.clear();
      spec.ipv6.clear();
    }
    // From an isolated management network ltb's proxies publish them (publish_ports), not Docker.
    for (const auto &text : run.plan.ports_by_proxy ? std::vector<std::string>{} : node.ports) {
      auto mapping = topology::parse_port_mapping(text);
      if (!mapping) {
        return fail(fmt::format("port mapping '{}' is not valid", text), "", ExitCode::usage);
      }
      spec.ports.push_back(
          {mapping->host_ip, mapping->host_port, mapping->port, mapping->protocol});
    }
    if (node.healthcheck) {
      constexpr std::int64_t k_second = 1000000000;
      const auto &h = *node.healthcheck;
      spec.healthcheck =
          runtime::ContainerSpec::Health{h.test, h.interval * k_second, h.timeout * k_second,
                                         h.start_period * k_second, h.retries};
    }
    spec.dns_servers = node.dns_servers;
    spec.dns_search = node.dns_search;
    spec.dns_options = node.dns_options;
    for (const auto &[key, value] : node.sysctls) {
      spec.sysctls[key] = value; // the file's after a confined kind's
    }
    if (!node.confined) { // the loader refuses them for a confined lab
      spec.cap_add = node.cap_add;
      spec.devices = node.devices;
    }
    spec.shm_size_bytes = node.shm_size_bytes;
    return {};
  }

  /// containerlab's startup-delay, then the nodes this one's create stage waits to be healthy
  /// (stages.create.wait-for with stage: healthy; the plan orders the other waits).
  static Status wait_before_create(Run &run, const topology::Node &node) {
    using clock = std::chrono::steady_clock;
    auto sleep_for = [&](std::chrono::milliseconds total) -> Status {
      const auto until = clock::now() + total;
      while (clock::now() < until) {
        if (run.options.interrupted && run.options.interrupted->load()) {
          return fail(fmt::format("node {}: interrupted while it waited to start", node.name));
        }
        std::this_thread::sleep_for(
            std::min<clock::duration>(std::chrono::milliseconds(100), until - clock::now()));
      }
      return {};
    };
    if (node.startup_delay > 0) {
      run.phase(node.name, Phase::creating, fmt::format("startup-delay {}s", node.startup_delay));
      LTB_CHECK(sleep_for(std::chrono::seconds(node.startup_delay)));
    }
    for (const auto &wait : node.wait_for) {
      if (wait.stage != "create" || wait.its_stage != "healthy") {
        continue;
      }
      const auto *other = run.node(wait.node);
      int limit = 300; // seconds; a health check that never passes fails the node, not the run
      if (other && other->healthcheck) {
        const auto &h = *other->healthcheck;
        const int interval = h.interval > 0 ? h.interval : 30;
        limit = std::max(limit, h.start_period + interval * (std::max(h.retries, 3) + 2));
      }
      run.phase(node.name, Phase::creating, fmt::format("waiting for {} to be healthy", wait.node));
      const auto until = clock::now() + std::chrono::seconds(limit);
      std::string health;
      while (true) {
        auto info = run.b.docker->inspect_container(
            plan::container_name(run.plan.lab, wait.node, run.plan.container_prefix));
        health = info ? info->health : std::string();
        if (health == "healthy") {
          break;
        }
        if (clock::now() >= until || (info && info->state != "running")) {
          return fail(fmt::format("node {} waited for node {} to be healthy, and it is {}",
                                  node.name, wait.node,
                                  !info                      ? "missing"
                                  : info->state != "running" ? info->state
                                  : health.empty()           ? "without health"
                                                             : health),
                      fmt::format("see `docker inspect {}` (State.Health) and its healthcheck",
                                  plan::container_name(run.plan.lab, wait.node,
                                                       run.plan.container_prefix)));
        }
        LTB_CHECK(sleep_for(std::chrono::milliseconds(250)));
      }
    }
    return {};
  }
};

} // namespace

NodeDriver &container_driver() {
  static ContainerDriver driver;
  return driver;
}

} // namespace ltb::apply
