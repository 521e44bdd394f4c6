#pragma once
// Why the planner plans an action: a closed set of reasons, each with its display text. The
// applier branches on the reason, never on its text; describe() and --dry-run show the text.
// Depends on state/ (object types) only.

#include "state/record_types.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace ltb::plan {

enum class Reason {
  new_object,            // "new"
  not_in_state,          // "not in state (left by an interrupted run)"
  kind_changed,          // "kind changed"
  unfinished,            // "unfinished by an earlier run"
  removal_unfinished,    // "removal unfinished by an earlier run"
  missing,               // "{subject} missing (removed outside ltb)"
  replaced,              // "{subject} replaced outside ltb"
  not_running,           // "{subject} {detail}", detail being the runtime's state: "exited"
  started_outside,       // "{subject} started outside ltb": a stopped node that runs
  image_changed,         // "image changed: {detail}", detail "OLD -> NEW"
  configuration_changed, // "configuration changed"
  address_changed,       // "management address changed: {detail}", detail "OLD -> NEW"
  network_changed,       // "management network changed"
  readdressed,           // "re-addressed"
  not_lab_network,       // "no longer the lab's network"
  network_recreated,     // "management network recreated"
  vm_addresses_changed,  // "VM addresses changed"
  no_vm_left,            // "no VM left"
  removed_from_file,     // "removed from the file"
  rewire,                // "rewire": a recorded link wired again (an end was recreated)
  node_created,          // "node created": a new node's exec commands
  links_rewired,         // "links rewired": exec commands run again on a node that stays
  lab_removed,           // "lab removed"
  interrupted_run,       // "left by an interrupted run"
  requested,             // "requested": `ltb stop`, `ltb start`, `ltb restart`
  impairments_changed,   // "impairments changed": the file's impairments of a link changed
  run_time_change,       // "set at run time": `ltb link set|up|down`
  segment_nics_retapped, // "segment NICs wired through ltb's taps now": a VM made by an older ltb
  renamed, // "container name changed: {detail}", detail "OLD -> NEW" (the file's prefix changed)
};

/// A reason with what its text names: the kind of runtime object (missing, replaced,
/// not_running) and a detail (not_running, image_changed, address_changed).
struct Why {
  Reason reason = Reason::new_object;
  state::ObjectType subject = state::ObjectType::container;
  std::string detail;

  Why() = default;
  Why(Reason r) : reason(r) {} // NOLINT(google-explicit-constructor): a bare reason is a Why
  Why(Reason r, state::ObjectType s, std::string d = {})
      : reason(r), subject(s), detail(std::move(d)) {}
  bool operator==(Reason r) const { return reason == r; }
};

/// The text's pattern, with "{subject}" and "{detail}" where they go.
const char *to_string(Reason reason);
/// The display text: "new", "container exited", "image changed: a -> b", ...
std::string to_string(const Why &why);
/// The inverse of to_string(Why); nullopt for text no planner writes.
std::optional<Why> parse_why(std::string_view text);

} // namespace ltb::plan
