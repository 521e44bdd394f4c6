#pragma once
// Private to runtime/docker: the pure half of the Docker client. Request bodies from specs,
// responses to info structs, the exec stream demultiplexer, pull progress lines. No I/O, so the
// unit tests check them without a daemon.

#include "runtime/docker/docker.hpp"

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ltb::runtime::docker {

/// The newest Engine API ltb speaks; older servers get their own version.
inline constexpr std::string_view k_max_api_version = "1.41";

/// min(server, k_max_api_version) as "X.Y"; k_max_api_version when the server sent nothing usable.
std::string negotiate_api_version(std::string_view server_api_version);

/// Percent-encodes everything but unreserved characters (RFC 3986), for query values.
std::string url_encode(std::string_view text);

/// Path segment for an image or object name: keeps '/', ':' and '@' that Docker routes accept.
std::string path_encode(std::string_view text);

/// {"label":["k=v",...]} as Docker's `filters` query parameter expects it.
std::string label_filters(const std::map<std::string, std::string> &labels);

/// How a privileged container gets its privileges. Docker 20.10 asks runc for every capability
/// it knows when Privileged is set, and runc fails ("unable to apply caps: operation not
/// permitted") on hosts whose capability bounding set lacks one (these CI machines have no
/// CAP_SYS_RESOURCE). There ltb grants the capabilities the host does have and lifts the same
/// confinement as Privileged does (seccomp, AppArmor, masked /proc paths).
struct Privileges {
  bool full = true;                      // use Privileged: true
  std::vector<std::string> capabilities; // CapAdd when !full
};

/// From a CapBnd bit mask (as in /proc/self/status) and the kernel's last capability number.
Privileges privileges_for(std::uint64_t bounding_set, int cap_last_cap);

/// This process's bounding set, read from /proc (the daemon runs on the same host).
Privileges host_privileges();

/// The seccomp profile of a confined container granted SYS_ADMIN (FRR's daemons refuse to start
/// without it). Docker's default profile allows mount, unshare, setns and more to a container
/// with SYS_ADMIN, and on a cgroup v1 host without AppArmor a mount of a cgroup hierarchy is a way
/// out (its release_agent runs on the host). This one allows every system call but those:
/// mounts and the new mount API, namespaces (unshare, setns, clone with a CLONE_NEW* flag, clone3),
/// kernel modules, kexec, BPF, perf, keyrings, swap, quotas, the clock, the kernel log, reboot, and
/// the rest of what Docker's default profile denies.
nlohmann::json confined_seccomp_profile();

nlohmann::json container_create_body(const ContainerSpec &spec, const Privileges &privileges = {});
nlohmann::json network_create_body(const NetworkSpec &spec);
nlohmann::json exec_create_body(const std::vector<std::string> &argv);

/// From GET /containers/ID/json.
ContainerInfo parse_container_inspect(const nlohmann::json &inspect);
/// From one element of GET /containers/json.
ContainerInfo parse_container_summary(const nlohmann::json &summary);
/// From GET /images/NAME/json (Config.Labels) or one element of GET /images/json (Labels).
ImageInfo parse_image(const nlohmann::json &image);
/// {"label":["k=v" or "k",...]} for GET /images/json; {} with no labels.
std::string image_filters(const std::map<std::string, std::string> &labels);
/// From one element of GET /networks.
NetworkInfo parse_network(const nlohmann::json &network);

/// The "message" of an API error body, or the body itself when it is not JSON.
std::string api_error_message(std::string_view body);

/// fromImage and tag for POST /images/create ("busybox" -> "busybox", "latest").
struct ImageRef {
  std::string from_image;
  std::string tag; // empty for a digest reference (name@sha256:...)
};
ImageRef split_image(std::string_view image);

/// One line of the pull stream: either a progress text ("status id progress") or an error.
struct PullLine {
  std::string text;
  std::optional<std::string> error;
};
std::optional<PullLine> parse_pull_line(std::string_view line);

/// What POST /images/load answered (JSON lines): the images loaded ("Loaded image ID: X" gives
/// X, "Loaded image: NAME:TAG" gives NAME:TAG), or the first error it reported.
struct LoadOutput {
  std::vector<std::string> loaded;
  std::optional<std::string> error;
};
LoadOutput parse_load_output(std::string_view body);

/// {"type":["container"],"label":["k=v" or "k",...]} for GET /events.
std::string event_filters(const std::map<std::string, std::string> &labels);

/// One line of GET /events; nullopt for a line that is not a container's event (or not JSON).
std::optional<ContainerEvent> parse_container_event(std::string_view line);

/// Cuts a byte stream into lines; data may arrive cut anywhere.
class LineSplitter {
public:
  /// The complete lines in `data` and what was left over before it, without their '\n'.
  std::vector<std::string> feed(std::string_view data);

private:
  std::string m_pending;
};

/// Splits Docker's multiplexed attach stream (8-byte headers: stream, 0, 0, 0, big-endian size)
/// into stdout and stderr. Data may arrive cut anywhere, headers included.
class StreamDemux {
public:
  void feed(std::string_view data);
  /// True when the stream ended inside a frame (truncated output).
  bool incomplete() const { return !m_pending.empty() || m_remaining != 0; }
  std::string out;
  std::string err;

private:
  std::string m_pending;         // partial header
  std::uint32_t m_remaining = 0; // payload bytes left in the current frame
  int m_stream = 1;
};

} // namespace ltb::runtime::docker
