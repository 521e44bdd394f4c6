#include "service/schedule.hpp"

#include "schedule/ledger.hpp"

namespace ltb::service {

Status ScheduleDeployer::deploy(const state::ReservationRecord &r) {
  LTB_TRY(connection, connect(m_session.context));
  DeployRequest request;
  request.owner = r.owner;
  LTB_TRY(outcome,
          deploy_text(m_session, connection, r.topology_text, r.lab, r.source,
                      schedule::reservation_base_dir(r, m_session.context.state_path), request));
  if (outcome.interrupted) {
    return fail("interrupted", "", ExitCode::interrupted);
  }
  if (!outcome.ok()) {
    return fail(failure_summary(outcome.errors, outcome.interrupted));
  }
  return {};
}

Status ScheduleDeployer::remove(const std::string &lab) {
  LTB_TRY(connection, connect(m_session.context));
  LTB_TRY(outcome, remove_lab(m_session, connection, lab));
  if (outcome.interrupted) {
    return fail("interrupted", "", ExitCode::interrupted);
  }
  if (!outcome.ok()) {
    return fail(failure_summary(outcome.errors, outcome.interrupted));
  }
  return {};
}

} // namespace ltb::service
