#pragma once
// The template store (`ltb template`): topology files and every file they reference, kept as
// versioned, content-addressed bundles in the state file; deploying from them (`ltb up
// --template`, `ltb reserve create --template`, the scheduler); tar export and import.
//
// What a bundle holds (ltb-topology(5) and ltb(1) say the same):
//  - the topology file, with its references rewritten: bundled files by their relative name in
//    the bundle, everything else by absolute path;
//  - every regular file it references: startup-config files, ssh-key files, bind sources that are
//    files, and bind sources that are directories inside the topology's directory (their regular
//    files). A file outside the topology's directory (`../x`, `/abs/x`) is bundled too, as
//    `outside/NAME`, and the topology is rewritten to it.
//  - not: a VM's disk image, kernel and initrd (large, and kept by the host: they stay absolute
//    paths), nor bind sources outside the topology's directory that are directories, sockets or
//    devices (host paths, e.g. /lib/modules): add() lists them as host paths.

#include "service/backends.hpp"
#include "service/deploy.hpp"
#include "service/service.hpp"
#include "state/store.hpp"
#include "topology/diagnostics.hpp"
#include "topology/model.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ltb::service {

/// NAME or NAME@VERSION as given on the command line; version 0 = the newest.
struct TemplateRef {
  std::string name;
  int version = 0;
};

/// Parses NAME[@VERSION]; a usage error saying what a name may hold otherwise.
Result<TemplateRef> parse_template_ref(const std::string &text);

/// The source recorded for what was deployed from a version: "template:NAME@VERSION".
std::string template_source(const std::string &name, int version);

/// The version a source names ("template:NAME@VERSION"); nullopt for files and for the plain
/// "template:NAME" of reservations made before the store.
std::optional<TemplateRef> parse_template_source(const std::string &source);

/// The directory of the plain-file templates of earlier releases: <state dir>/templates.
std::string legacy_templates_dir(const Context &context);

/// Where bundles are materialized: <state dir>/template-bundles.
std::string bundles_dir(const Context &context);

/// A topology file and every file it references, as a bundle (see above): what `ltb template add`
/// stores and what the client of `ltb serve` sends.
struct TopologyBundle {
  std::string name;                            // the lab's name in the file
  std::string topology;                        // the topology's name in the bundle (its file name)
  std::map<std::string, std::string> contents; // name in the bundle -> bytes
  std::map<std::string, std::uint32_t> modes;
  std::vector<std::string> host_paths; // referenced, not bundled
  std::vector<std::string> moved;      // "PATH -> outside/NAME"
  /// The topology did not load: its diagnostics; nothing else is set then.
  std::optional<topology::Diagnostics> invalid;
  topology::Diagnostics warnings;
};

/// Loads FILE and bundles it with what it references (limits: 64 MiB a file, 256 MiB in all).
/// With `inside_only` (an imported archive, which holds every file it needs), a file outside
/// FILE's directory is an error instead of a copy of a host file: nothing of it is read.
Result<TopologyBundle> bundle_topology(const std::string &file, bool inside_only = false);

struct AddTemplate {
  std::string file;        // the topology file
  std::string name;        // "" = the file's name without its extension
  std::string description; // "" = none
  bool shared = false;     // every user may see and deploy it (--shared)
};

struct AddedTemplate {
  state::TemplateRecord record; // with its files
  bool added = false;           // false: the newest version had the same content
  /// The topology did not load: its diagnostics (print them; exit 2). Nothing else is set then.
  std::optional<topology::Diagnostics> invalid;
  topology::Diagnostics warnings;
  std::vector<std::string> host_paths; // referenced, not bundled (see above)
  std::vector<std::string> moved;      // "PATH -> outside/NAME": bundled from outside its dir
};

/// `ltb template add`: loads the file (every diagnostic at once), collects what it references and
/// stores the bundle as the next version, or nothing when the newest version has the same content.
Result<AddedTemplate> add_template(const Session &session, state::Store &store,
                                   const AddTemplate &request);

/// One version and its files; a template that does not exist is a usage error with a "did you
/// mean", and a plain-file template of an earlier release is imported first (see resolve).
Result<state::TemplateRecord> find_template(const Session &session, state::Store &store,
                                            const TemplateRef &ref);

/// What holds a version: reservations not finished, and labs deployed from it; those of other
/// users than the caller may see are only counted.
struct TemplateUsers {
  std::vector<std::string> reservations; // "12 (lab class-1, pending)"
  std::vector<std::string> labs;
  int others = 0;
};
Result<TemplateUsers> template_users(state::Store &store, const Caller &caller,
                                     const std::string &name, int version);

/// The versions (of `name`, "" = of every template) the caller may see: their own, shared ones,
/// and (admins) all.
Result<std::vector<state::TemplateRecord>>
list_templates(const Session &session, state::Store &store, const std::string &name = {});

/// `ltb template share NAME [--private]`: every user may see and deploy it, or only its owner.
Status share_template(const Session &session, state::Store &store, const std::string &name,
                      bool shared);

struct RemovedTemplate {
  std::vector<int> versions; // removed
};

/// `ltb template rm NAME[@VERSION]` (no version = every version). Refused, naming them, while a
/// pending or active reservation or a recorded lab uses a version; nothing is removed then.
Result<RemovedTemplate> remove_template(const Session &session, state::Store &store,
                                        const TemplateRef &ref);

/// `ltb template export`: one tar with a manifest (ltb-template.json) and files/PATH per file.
Result<state::TemplateRecord> export_template(const Session &session, state::Store &store,
                                              const TemplateRef &ref, const std::string &tar);

struct ImportTemplate {
  std::string tar;
  std::string name; // "" = the name in the archive
};

/// `ltb template import`: reads the tar with limits (no links, devices, absolute names or `..`),
/// checks every file against the manifest's digests, then adds it like add_template() (the
/// topology validated, located in the bundled file).
Result<AddedTemplate> import_template(const Session &session, state::Store &store,
                                      const ImportTemplate &request);

/// A version written out for deploying: a read-only directory under bundles_dir() named by the
/// bundle's digest (made once, shared by every lab of that content).
struct MaterializedTemplate {
  state::TemplateRecord record;
  std::string dir;    // the bundle's directory
  std::string file;   // the topology file in it (absolute)
  std::string text;   // its content
  std::string source; // template_source()
};

/// Resolves REF (importing a plain-file template on first use, with a notice) and materializes it.
Result<MaterializedTemplate> materialize_template(const Session &session, state::Store &store,
                                                  const TemplateRef &ref);

/// What a reservation deploys: the text, the name diagnostics give it, the source recorded with
/// it (an absolute path, or "template:NAME@VERSION"), and the directory its paths resolve in.
struct ReservationSource {
  std::string text;
  std::string file;
  std::string source;
  std::string base_dir;
};

/// `ltb reserve create FILE` or `--template NAME[@VERSION]` (exactly one of them given): a
/// template is resolved in the store (a plain-file one imported on first use) and materialized,
/// and the reservation pins that version.
Result<ReservationSource> reservation_source(const Session &session, state::Store &store,
                                             const std::string &file,
                                             const std::string &template_ref);

struct DeployedTemplate {
  MaterializedTemplate from;
  topology::Topology desired; // as loaded from the materialized file
  /// The version no longer loads (a newer ltb checks more): its diagnostics; nothing deployed.
  std::optional<topology::Diagnostics> invalid;
  Result<DeployOutcome> outcome = fail("not deployed");
};

/// `ltb up --template NAME[@VERSION] [--lab NAME]`: materializes the version, loads it (`lab`
/// overrides its name) and deploys it with deploy_lab(), recording the lab's source as
/// template NAME@VERSION. Errors before the deploy are the Result's; the deploy's own outcome.
Result<DeployedTemplate> deploy_template(const Session &session, Connection &connection,
                                         const TemplateRef &ref, const std::string &lab,
                                         DeployRequest request = {});

} // namespace ltb::service
