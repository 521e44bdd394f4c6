#include "service/owners.hpp"

#include "topology/diagnostics.hpp"

#include <fmt/format.h>

namespace ltb::service {

namespace {

bool is_root_owner(const std::string &owner) {
  return owner.empty() || owner == "root";
}

std::string prefix_of(const std::string &owner) {
  return owner + k_owner_separator;
}

} // namespace

std::string lab_id(const std::string &owner, const std::string &name) {
  if (is_root_owner(owner) || name.rfind(prefix_of(owner), 0) == 0) {
    return name;
  }
  return prefix_of(owner) + name;
}

std::string lab_shown(const Caller &viewer, const std::string &id) {
  const auto prefix = prefix_of(viewer.name);
  if (!is_root_owner(viewer.name) && id.size() > prefix.size() && id.rfind(prefix, 0) == 0) {
    return id.substr(prefix.size());
  }
  return id;
}

std::string lab_id_owner(const std::string &id) {
  // Lab names cannot hold the separator (the loader refuses it), so the last one ends the owner.
  const auto at = id.rfind(k_owner_separator);
  return at == std::string::npos || at == 0 ? std::string("root") : id.substr(0, at);
}

bool may_act(const Caller &caller, const std::string &owner) {
  return caller.admin || owner == caller.name;
}

std::string role_name(const Caller &caller) {
  return caller.admin ? "admin" : "user";
}

Status require_admin(const Caller &caller, const std::string &what) {
  if (caller.admin) {
    return {};
  }
  return fail(Error{fmt::format("{} is for ltb admins, and {} is a user", what, caller.name),
                    "ask an ltb admin (root, or a user with the admin role)", ExitCode::failed});
}

Error not_yours(const std::string &what, const std::string &name, const std::string &help) {
  return Error{fmt::format("no {} named '{}'", what, name), help, ExitCode::failed};
}

Result<state::LabRecord> resolve_lab(state::Store &store, const Caller &caller,
                                     const std::string &named) {
  LTB_TRY(labs, store.labs());
  std::vector<std::string> candidates;
  if (const auto slash = named.find('/'); slash != std::string::npos) {
    candidates.push_back(lab_id(named.substr(0, slash), named.substr(slash + 1)));
  } else {
    candidates.push_back(lab_id(caller.name, named));
    candidates.push_back(named);
  }
  for (const auto &id : candidates) {
    for (auto &lab : labs) {
      if (lab.name == id && may_act(caller, lab.owner)) {
        return std::move(lab);
      }
    }
  }
  std::vector<std::string> mine;
  std::vector<std::string> others;
  for (const auto &lab : labs) {
    if (!may_act(caller, lab.owner)) {
      continue;
    }
    mine.push_back(lab_shown(caller, lab.name));
    if (lab.owner != caller.name && lab_shown(Caller{0, lab.owner, true, {}}, lab.name) == named) {
      others.push_back(lab.name);
    }
  }
  if (!others.empty()) {
    std::string list;
    for (const auto &id : others) {
      list += (list.empty() ? "" : ", ") + id;
    }
    return fail(fmt::format("you have no lab named '{}'; other users' labs have that name: {}",
                            named, list),
                "name one of them by its id as shown, or as OWNER/NAME");
  }
  auto guess = topology::did_you_mean(named, mine);
  return fail(not_yours("lab", named,
                        guess.empty() ? std::string("see `ltb status` for your labs")
                                      : fmt::format("did you mean '{}'?", guess)));
}

Result<std::string> resolve_lab_id(state::Store &store, const Caller &caller,
                                   const std::string &named) {
  LTB_TRY(labs, store.labs());
  auto found = resolve_lab(store, caller, named);
  if (found) {
    return found->name;
  }
  if (const auto slash = named.find('/'); slash != std::string::npos) {
    const auto owner = named.substr(0, slash);
    if (!caller.admin && owner != caller.name) {
      return fail(Error{fmt::format("'{}' names a lab of user '{}'", named, owner),
                        "you may act on your own labs only; name yours without OWNER/",
                        ExitCode::usage});
    }
    return lab_id(owner, named.substr(slash + 1));
  }
  // A record under the caller's own id that they may not act on cannot exist (it would be
  // theirs); a record under another id is someone else's and stays untouched.
  return lab_id(caller.name, named);
}

Status check_filter(const Caller &caller, const OwnerFilter &filter) {
  if (caller.admin) {
    return {};
  }
  if (filter.all) {
    return fail(Error{"--all lists every user's labs and is for admins",
                      "leave it out to see your own", ExitCode::usage});
  }
  if (!filter.owner.empty() && filter.owner != caller.name) {
    return fail(Error{fmt::format("--owner {}: you may list your own only", filter.owner),
                      "leave --owner out to see your own", ExitCode::usage});
  }
  return {};
}

bool shows(const Caller &caller, const OwnerFilter &filter, const std::string &owner) {
  if (!filter.owner.empty()) {
    return owner == filter.owner && may_act(caller, owner);
  }
  if (filter.all) {
    return may_act(caller, owner);
  }
  return owner == caller.name || (caller.uid == 0 && caller.admin && owner.empty());
}

} // namespace ltb::service
