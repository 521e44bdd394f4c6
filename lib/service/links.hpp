#pragma once
// A running lab's links: list them with their state and impairments (`ltb link list`), change
// impairments at run time (`ltb link set`), pull or plug a cable (`ltb link down|up`). A change
// is one set_impairment action of apply/, on the link as recorded: no node or link is recreated,
// and the change is recorded so that a later `ltb up` keeps it (plan::link_settings()).

#include "apply/backends.hpp"
#include "service/service.hpp"
#include "util/error.hpp"

#include <map>
#include <string>
#include <vector>

namespace ltb::service {

/// One end of a link and what the link does to the packets leaving it.
struct LinkEndInfo {
  std::string node;
  std::string iface;
  std::string impairments; // topology::describe(): "delay 50ms, loss 2%" or "none"
  std::string source;      // "file", "run time" (ltb link set), or "" when none
};

struct LinkInfo {
  std::string lab;
  std::string name;
  std::string key;
  LinkEndInfo a;
  LinkEndInfo b;
  std::string state; // "up", "down" (ltb link down), or the record's: "creating", "failed"
  std::string via;   // who applies the impairments: "kernel", "relay", "" = not yet known
};

struct LinkListRequest {
  std::string lab; // "" = the caller's only (or only running) lab
};

/// The lab's links, sorted by name.
Result<std::vector<LinkInfo>> list_links(const Session &session, const LinkListRequest &request);

struct LinkSetRequest {
  std::string lab;    // "" = found from NODE (NODE:IFACE) or the caller's only lab
  std::string target; // a link's name, or NODE:IFACE for the one direction leaving it
  /// Fields to change (topology::k_impairment_fields) with their values as written: "50ms".
  std::map<std::string, std::string> values;
  bool reset = false; // drop the run-time changes first (back to the file's values)
};

/// Changes the impairments of a link (both directions) or of one end (the packets leaving it):
/// the given fields on top of what applies now (with `reset`: on top of the file's values).
/// Recorded as an "impairment changed" event (attributes: the fields given, "reset", and each
/// changed direction's impairments by the end its packets leave, e.g. "r1:eth1").
Result<LinkInfo> set_link(const Session &session, const LinkSetRequest &request);
/// The same on backends already open (unit tests hand it fakes).
Result<LinkInfo> set_link(const Session &session, apply::Backends &backends,
                          const LinkSetRequest &request);

struct LinkStateRequest {
  std::string lab;
  std::string target; // a link's name or NODE:IFACE of one of its ends
  bool up = true;
};

/// `ltb link down`: both ends lose their carrier, as when a cable is pulled; `up` plugs it back.
/// Recorded: `ltb up` leaves a link that is down down; and as a "link down" or "link up" event.
Result<LinkInfo> set_link_state(const Session &session, const LinkStateRequest &request);
Result<LinkInfo> set_link_state(const Session &session, apply::Backends &backends,
                                const LinkStateRequest &request);

} // namespace ltb::service
