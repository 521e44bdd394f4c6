#pragma once
// How the scheduler deploys and removes labs: through the same use cases as `ltb up` and
// `ltb down` (service/deploy.hpp).

#include "schedule/scheduler.hpp"
#include "service/deploy.hpp"

namespace ltb::service {

/// A schedule::Deployer over deploy_text() and remove_lab(), with a fresh connection each time
/// (dockerd or libvirtd may have restarted while the scheduler slept). A reservation's lab is
/// recorded as its owner's.
class ScheduleDeployer : public schedule::Deployer {
public:
  explicit ScheduleDeployer(const Session &session) : m_session(session) {}
  Status deploy(const state::ReservationRecord &r) override;
  Status remove(const std::string &lab) override;

private:
  Session m_session;
};

} // namespace ltb::service
