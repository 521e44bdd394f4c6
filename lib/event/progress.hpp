#pragma once
// The progress of a running plan: the interface the applier and the service report through, and
// its rendering for a user, on a terminal a live block with one line per node (waiting, creating,
// wiring, running, failed), otherwise plain timestamped lines. Depends on nothing in lib/.

#include <memory>
#include <string>
#include <vector>

namespace ltb::event {

enum class Phase {
  waiting,
  pulling,
  creating,
  wiring,
  configuring,
  running,
  removing,
  removed,
  stopping,
  stopped,
  starting,
  failed
};

const char *phase_name(Phase phase);

class Progress {
public:
  virtual ~Progress() = default;
  virtual void node(const std::string &node, Phase phase, const std::string &detail = {}) = 0;
  /// A notice that is not about one node (for example the OVS datapath fallback).
  virtual void notice(const std::string &line) = 0;
  /// Draws the final state; no more output after this.
  virtual void finish() = 0;
};

struct ProgressOptions {
  bool live = false;  // a terminal: redraw one line per node
  bool quiet = false; // nothing but notices
  bool color = false;
};

std::unique_ptr<Progress> make_progress(const std::vector<std::string> &nodes,
                                        const ProgressOptions &options);

} // namespace ltb::event
