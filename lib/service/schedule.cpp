#include "service/schedule.hpp"

#include "schedule/ledger.hpp"
#include "service/events.hpp"
#include "service/templates.hpp"

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fmt/format.h>

namespace ltb::service {

Status ScheduleDeployer::deploy(const state::ReservationRecord &r) {
  const auto began = std::chrono::system_clock::now();
  LTB_TRY(connection, connect(m_session.context));
  DeployRequest request;
  request.owner = r.owner;
  request.confined = r.confined;
  std::string file = r.source;
  std::string base_dir = schedule::reservation_base_dir(r, m_session.context.state_path);
  if (!r.files_dir.empty()) {
    // Made through the daemon: the files are the reservation's copy, never the user's path.
    file =
        (std::filesystem::path(r.files_dir) / std::filesystem::path(r.source).filename()).string();
    request.source = r.source;
  }
  if (auto ref = parse_template_source(r.source)) {
    // The pinned version's files, written out again if they were cleaned away meanwhile; the
    // text is the reservation's own copy.
    LTB_TRY(materialized, materialize_template(m_session, *connection.store, *ref));
    file = materialized.file;
    base_dir = materialized.dir;
    request.source = r.source;
  }
  LTB_TRY(outcome,
          deploy_text(m_session, connection, r.topology_text, r.lab, file, base_dir, request));
  if (outcome.interrupted) {
    return fail("interrupted", "", ExitCode::interrupted);
  }
  if (!outcome.ok()) {
    return fail(failure_summary(outcome.errors, outcome.interrupted));
  }
  event::Event started;
  started.lab = r.lab;
  started.type = event::Type::reservation;
  started.action = event::Action::started;
  started.object = std::to_string(r.id);
  // How long the deploy took and how late after the reservation's start it began: the
  // scheduler's figures in `ltb top` and GET /metrics (service/metrics).
  const auto seconds = [](auto duration) {
    return fmt::format("{:.3f}", std::chrono::duration<double>(duration).count());
  };
  const auto start = std::chrono::system_clock::from_time_t(static_cast<std::time_t>(r.start_at));
  started.attributes = {{"owner", r.owner},
                        {"end_at", std::to_string(r.end_at)},
                        {"deploy_seconds", seconds(std::chrono::system_clock::now() - began)},
                        {"late_seconds", seconds(began - start)}};
  record_event(m_session, *connection.store, std::move(started));
  return {};
}

namespace {

/// The reservation whose lab the scheduler removes: the newest one of that lab that has started.
std::string reservation_of(state::Store &store, const std::string &lab) {
  auto all = store.reservations();
  if (!all) {
    return {};
  }
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  std::string id;
  std::int64_t start = 0;
  for (const auto &r : *all) {
    if (r.lab == lab && r.start_at <= now && r.start_at >= start) {
      id = std::to_string(r.id);
      start = r.start_at;
    }
  }
  return id;
}

} // namespace

Status ScheduleDeployer::remove(const std::string &lab) {
  LTB_TRY(connection, connect(m_session.context));
  LTB_TRY(outcome, remove_lab(m_session, connection, lab));
  if (outcome.interrupted) {
    return fail("interrupted", "", ExitCode::interrupted);
  }
  if (!outcome.ok()) {
    return fail(failure_summary(outcome.errors, outcome.interrupted));
  }
  event::Event ended;
  ended.lab = lab;
  ended.type = event::Type::reservation;
  ended.action = event::Action::ended;
  ended.object = reservation_of(*connection.store, lab);
  record_event(m_session, *connection.store, std::move(ended));
  return {};
}

} // namespace ltb::service
