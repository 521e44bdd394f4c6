#include "service/service.hpp"

#include <filesystem>

namespace ltb::service {

namespace {
class SilentProgress : public event::Progress {
public:
  void node(const std::string &, event::Phase, const std::string &) override {}
  void notice(const std::string &) override {}
  void finish() override {}
};
} // namespace

std::string Context::lab_dir(const std::string &lab) const {
  auto parent = std::filesystem::path(state_path).parent_path();
  return (parent / "labs" / lab).string();
}

const std::atomic<bool> *CancelToken::watch() {
  if (!m_armed) {
    m_armed = true;
    if (m_arm) {
      m_arm();
    }
  }
  return &m_cancelled;
}

std::unique_ptr<event::Progress> NullSink::progress(const std::vector<std::string> &) {
  return std::make_unique<SilentProgress>();
}

} // namespace ltb::service
