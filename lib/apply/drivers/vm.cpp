// The VM driver: a node is a transient libvirt domain on a copy-on-write overlay of its base
// disk, NIC 0 on the management bridge, one tap of ltb's per link.

#include "access/install.hpp"
#include "apply/drivers/driver.hpp"
#include "plan/names.hpp"
#include "util/ipv4.hpp"

#include <filesystem>
#include <fmt/format.h>
#include <set>

namespace ltb::apply {

namespace {

namespace fs = std::filesystem;

tl::unexpected<Error> no_libvirt(const std::string &node) {
  return fail(fmt::format("VM {}: libvirt is not connected", node),
              "start it: virtlogd -d && libvirtd -d (or make setup)");
}

class VmDriver final : public NodeDriver {
public:
  topology::Runtime runtime() const override { return topology::Runtime::vm; }
  state::ObjectType object_type() const override { return state::ObjectType::domain; }

  Status observe(Backends &b, const std::string &lab, plan::Observed &observed) override {
    if (!b.vms) {
      return {};
    }
    LTB_TRY(domains, b.vms->list({{plan::k_label_lab, lab}}));
    for (const auto &domain : domains) {
      auto node = domain.metadata.find(plan::k_label_node);
      if (node == domain.metadata.end()) {
        continue;
      }
      auto hash = domain.metadata.find(plan::k_label_hash);
      observed.vms[node->second] = {domain.uuid, domain.name, domain.state,
                                    hash == domain.metadata.end() ? "" : hash->second};
    }
    return {};
  }

  std::string config_hash(const topology::Topology &desired,
                          const topology::Node &node) const override {
    return plan::vm_config_hash(desired, node);
  }

  Status create(Run &run, const plan::Action &action) override {
    const auto *node = run.node(action.node);
    auto context = [&](Error e) { return fail(with_context("VM " + action.node, std::move(e))); };
    if (!run.b.vms) {
      return no_libvirt(action.node);
    }
    run.phase(action.node, Phase::creating);
    std::string accel;
    if (node->accel != topology::Accel::automatic) {
      accel = node->accel == topology::Accel::kvm ? "kvm" : "qemu";
    } else if (!run.auto_accel) {
      return context(Error{"the accelerator was not chosen before the run", "", ExitCode::failed});
    } else if (!*run.auto_accel) {
      return context(run.auto_accel->error());
    } else {
      accel = **run.auto_accel;
    }
    const auto &plan = run.plan;
    auto address = plan.addresses.at(node->name);
    auto &store = *run.b.store;
    state::NodeRecord record{plan.lab,
                             node->name,
                             node->kind,
                             node->image,
                             config_hash(*run.desired, *node),
                             address,
                             "",
                             state::RecordStatus::creating};
    record.runtime = state::k_runtime_vm;
    std::int64_t object_id = 0;
    LTB_CHECK(store.transaction([&]() -> Status {
      LTB_CHECK(store.put_node(record));
      LTB_TRY(id, run.record_object(state::ObjectType::domain, action.name, node->name));
      object_id = id;
      return {};
    }));
    auto dir = fs::path(run.options.lab_dir) / node->name;
    std::error_code ec;
    fs::create_directories(dir, ec);
    runtime::VmSpec spec;
    spec.name = action.name;
    spec.accel = accel;
    spec.vcpus = node->cpus > 0 ? static_cast<int>(node->cpus + 0.999) : 1;
    spec.memory_mib = node->memory_bytes > 0 ? node->memory_bytes / (1024 * 1024) : 256;
    // A restore of a snapshot: the disk builds on the snapshot's frozen layer, and the VM may
    // resume from its memory state.
    const auto restoring = run.options.vm_restores.find(node->name);
    const VmRestore *restore =
        restoring == run.options.vm_restores.end() ? nullptr : &restoring->second;
    const auto &base = restore && !restore->layer.empty() ? restore->layer : node->image;
    if (!base.empty()) {
      spec.disk = (dir / "disk.qcow2").string();
      auto size = node->disk_size_bytes > 0 ? std::to_string(node->disk_size_bytes) : std::string();
      if (auto made = run.b.overlays->create(base, spec.disk, size); !made) {
        return context(made.error());
      }
    }
    spec.kernel = node->kernel;
    spec.initrd = node->initrd;
    spec.cmdline = command_line(run, *node, address);
    spec.nics.push_back({"bridge", plan::mgmt_bridge_name(plan.lab),
                         plan::vm_mac(plan.lab, node->name, 0), "", node->nic_model});
    int index = 1;
    for (const auto &[iface, link] : plan::vm_interfaces(*run.desired, node->name)) {
      const auto &peer = link->a.node == node->name ? link->b.node : link->a.node;
      const auto *peer_node = run.node(peer);
      const auto key = topology::link_key(*link);
      // A segment NIC's tap is not the bridge port: it is joined to the port's veth peer (by the
      // segment's wiring), so that both directions shape on host interfaces.
      auto tap = peer_node && peer_node->runtime == topology::Runtime::ovs_bridge
                     ? plan::segment_node_veth_name(plan.lab, key, node->name)
                     : plan::host_veth_name(plan.lab, key, node->name);
      // Recorded before it is made, with the VM as owner: removing the VM finds its taps even
      // when the link records went first (a link dropped from the file).
      LTB_TRY(tap_id, run.record_object(state::ObjectType::veth, tap, node->name));
      if (auto made = run.b.host->create_tap(tap); !made) {
        return context(made.error());
      }
      LTB_CHECK(run.b.store->update_object(tap_id, tap, state::RecordStatus::created));
      spec.nics.push_back(
          {"ethernet", tap, plan::vm_mac(plan.lab, node->name, index), "", node->nic_model});
      ++index;
    }
    spec.metadata = {{plan::k_label_lab, plan.lab},
                     {plan::k_label_node, node->name},
                     {plan::k_label_owner, run.options.owner},
                     {plan::k_label_hash, record.config_hash},
                     {plan::k_label_accel, accel}};
    spec.serial_log = (dir / "console.log").string();
    auto created = restore && !restore->memory_file.empty()
                       ? run.b.vms->restore(restore->memory_file, restore->saved_disk, spec.disk,
                                            spec.metadata)
                       : run.b.vms->create(spec);
    if (!created) {
      return context(created.error());
    }
    run.book.set_vm(node->name, created->uuid);
    record.runtime_id = created->uuid;
    run.book.settle(record);
    LTB_CHECK(store.transaction([&]() -> Status {
      LTB_CHECK(store.put_node(record));
      return store.update_object(object_id, created->uuid, state::RecordStatus::created);
    }));
    if (record.status != state::RecordStatus::running) {
      run.phase(node->name, Phase::wiring);
    }
    return {};
  }

  Status remove(Run &run, const plan::Action &action) override {
    if (!action.node.empty()) {
      run.phase(action.node, Phase::removing);
    }
    if (!run.b.vms) {
      return no_libvirt(action.node);
    }
    if (auto destroyed = run.b.vms->destroy(action.name); !destroyed) {
      return fail(with_context("VM " + action.node, destroyed.error()));
    }
    // The domain is gone, its taps and disk go next: until they are, the node is recorded as
    // being removed (the next run recreates or removes it), not as running.
    if (!action.node.empty()) {
      LTB_CHECK(mark_removing(run, action.node));
    }
    LTB_CHECK(run.forget_objects(state::ObjectType::domain, {action.name}));
    std::set<std::string> taps;
    for (const auto &key : action.links) {
      taps.insert(plan::host_veth_name(run.plan.lab, key, action.node));
    }
    LTB_TRY(objects, run.b.store->objects(run.plan.lab));
    for (const auto &object : objects) {
      if (object.type == state::ObjectType::veth && !action.node.empty() &&
          object.owner == action.node) {
        taps.insert(object.name);
      }
    }
    for (const auto &tap : taps) {
      if (auto deleted = run.b.netlink->delete_link(tap); !deleted) {
        return fail(with_context("VM " + action.node + ": tap " + tap, deleted.error()));
      }
    }
    LTB_CHECK(run.forget_objects(state::ObjectType::veth, taps));
    // disk.qcow2, and the layers a snapshot put the VM on (disk-*.qcow2); what they build on
    // has other names (a snapshot's) and stays.
    const auto node_dir = fs::path(run.options.lab_dir) / action.node;
    LTB_TRY(files, run.b.overlays->files_under(node_dir.string()));
    for (const auto &file : files) {
      if (fs::path(file).parent_path() == node_dir &&
          fs::path(file).filename().string().rfind("disk", 0) == 0) {
        LTB_CHECK(run.b.overlays->remove(file));
      }
    }
    if (!action.node.empty()) {
      LTB_CHECK(run.b.store->delete_node(run.plan.lab, action.node));
    }
    return {};
  }

  /// The domain is made persistent and shut down (ACPI, then destroyed after the timeout): its
  /// definition, disk overlay and taps stay, and the taps' redirects with them (ltb made the
  /// taps, libvirt only opens them), so its links need nothing.
  Status stop(Run &run, const plan::Action &action) override {
    if (!run.b.vms) {
      return no_libvirt(action.node);
    }
    run.phase(action.node, Phase::stopping);
    const int timeout = run.options.stop_timeout >= 0 ? run.options.stop_timeout : 30;
    if (auto stopped = run.b.vms->shutdown(action.name, timeout); !stopped) {
      return fail(with_context("VM " + action.node, stopped.error()));
    }
    return run.set_node_status(action.node, state::RecordStatus::stopped);
  }

  /// Boots the kept domain again: same uuid, disk and NICs. What the links carried on the taps
  /// stayed with them (a segment NIC's tap too: the bridge port is ltb's veth, which stays);
  /// only a segment NIC wired by an older ltb, whose port libvirt makes again, needs more.
  Status start(Run &run, const plan::Action &action) override {
    if (!run.b.vms) {
      return no_libvirt(action.node);
    }
    run.phase(action.node, Phase::starting);
    if (auto started = run.b.vms->start(action.name); !started) {
      return fail(with_context("VM " + action.node, started.error()));
    }
    auto info = run.b.vms->info(action.name);
    if (!info) {
      return fail(with_context("VM " + action.node, info.error()));
    }
    run.book.set_vm(action.node, info->uuid);
    LTB_CHECK(segment_ports_back(run, action));
    return run.set_node_status(action.node, state::RecordStatus::running, info->uuid);
  }

  Result<Endpoint> endpoint(Run &run, const std::string &node) override {
    if (auto uuid = run.book.vm(node)) {
      return Endpoint{Endpoint::Kind::tap, 0, *uuid};
    }
    if (!run.b.vms) {
      return no_libvirt(node);
    }
    auto info = run.b.vms->info(plan::container_name(run.plan.lab, node));
    if (!info) {
      return fail(with_context("VM " + node, info.error()));
    }
    run.book.set_vm(node, info->uuid);
    return Endpoint{Endpoint::Kind::tap, 0, info->uuid};
  }

  Status configure(Run &, const plan::Action &) override { return {}; }

  Access access() const override { return {Access::Exec::ssh, true, Access::Capture::host_tap}; }

private:
  /// A VM whose segment NICs were wired by an older ltb: libvirt made their ports again as it
  /// booted, which restore_legacy_vm_port completes.
  static Status segment_ports_back(Run &run, const plan::Action &action) {
    for (const auto &key : action.links) {
      auto it = run.plan.links.find(key);
      if (it == run.plan.links.end()) {
        continue;
      }
      if (auto restored = restore_legacy_vm_port(run, it->second); !restored) {
        return fail(with_context("VM " + action.node, restored.error()));
      }
    }
    return {};
  }

  static Status mark_removing(Run &run, const std::string &node) {
    LTB_TRY(nodes, run.b.store->nodes(run.plan.lab));
    for (auto record : nodes) {
      if (record.name == node) {
        record.status = state::RecordStatus::removing;
        return run.b.store->put_node(record);
      }
    }
    return {};
  }

  /// The management address goes on the command line too (the DHCP reservation has it as
  /// well), unless the node's own command line says how to get it (e.g. ltb.mgmt=dhcp).
  static std::string command_line(Run &run, const topology::Node &node,
                                  const std::string &address) {
    auto subnet = util::parse_subnet(run.plan.subnet, false);
    std::string cmdline = node.cmdline;
    if (node.cmdline.find("ltb.mgmt=") == std::string::npos) {
      cmdline += fmt::format("{}ltb.mgmt={}/{}", cmdline.empty() ? "" : " ", address,
                             subnet ? subnet->prefix : 24);
    }
    cmdline += fmt::format("{}ltb.hostname={}", cmdline.empty() ? "" : " ", node.name);
    if (run.desired->mgmt.external_access) {
      cmdline += " ltb.gw=" + run.plan.gateway;
    }
    cmdline += access::vm_key_parameter(run.options.lab_dir); // the ltb-vm image installs it
    return cmdline;
  }
};

} // namespace

NodeDriver &vm_driver() {
  static VmDriver driver;
  return driver;
}

} // namespace ltb::apply
