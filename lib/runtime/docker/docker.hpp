#pragma once
// Docker Engine API over /var/run/docker.sock (libcurl unix socket + nlohmann-json). The version is
// negotiated from GET /_ping. Safe to call from several threads at once (one curl handle per
// thread). Depends on util/ only.

#include "util/error.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace ltb::runtime {

struct ContainerSpec {
  std::string name;
  std::string hostname;
  std::string image;
  std::vector<std::string> cmd;        // empty = image default
  std::vector<std::string> entrypoint; // empty = image default
  std::map<std::string, std::string> env;
  std::map<std::string, std::string> labels;
  std::vector<std::string> binds; // "src:dst[:opts]"
  std::string network;            // management network name; empty = "none"
  std::string ipv4;               // static address on `network`
  double cpus = 0;
  std::int64_t memory_bytes = 0;
  bool privileged = true; // routing daemons need it (as containerlab does)
  /// A non-admin's node (ltb-topology(5), CONFINEMENT): never privileged (`privileged` is then
  /// ignored), every capability dropped and `capabilities` added back, no-new-privileges,
  /// Docker's default seccomp and AppArmor profiles; with SYS_ADMIN among `capabilities`, ltb's
  /// seccomp profile instead, which denies what SYS_ADMIN would open (mount, unshare, ...).
  bool confined = false;
  std::vector<std::string> capabilities; // Docker's names, without CAP_
  std::map<std::string, std::string>
      sysctls; // set as it is made (confined: /proc/sys is read-only)
  std::string ipv6; // static IPv6 address on `network`
  /// Docker's NetworkMode when not the management network: "host", "none", "container:ID".
  std::string network_mode;
  struct Port {
    std::string host_ip; // empty = every address
    int host_port = 0;
    int port = 0;
    std::string protocol = "tcp";
  };
  std::vector<Port> ports; // published by Docker (PortBindings)
  struct Health {
    std::vector<std::string> test;
    std::int64_t interval_ns = 0, timeout_ns = 0, start_period_ns = 0;
    int retries = 0;
  };
  std::optional<Health> healthcheck;
  std::vector<std::string> dns_servers, dns_search, dns_options;
  std::vector<std::string> cap_add; // on top of what `privileged` gives
  std::vector<std::string> devices; // host paths, the same path inside, rwm
  std::int64_t shm_size_bytes = 0;  // 0 = Docker's default
};

struct ContainerInfo {
  std::string id;
  std::string name; // without the leading '/'
  std::string image;
  std::string state; // "created", "running", "exited", ...
  int pid = 0;       // 0 unless running (inspect only)
  std::map<std::string, std::string> labels;
  std::string ipv4; // on the management network, if any
  /// Docker's health of a container with a healthcheck: "starting", "healthy", "unhealthy";
  /// empty without one.
  std::string health;
  std::string ipv6 = {}; // on the management network, when it has IPv6
};

struct NetworkSpec {
  std::string name;
  std::string subnet;  // CIDR
  std::string gateway; // first address of the subnet
  std::string subnet6; // IPv6 CIDR: dual stack (EnableIPv6); empty = IPv4 only
  std::string gateway6; // empty = Docker's (the first address)
  bool internal = true;
  std::map<std::string, std::string> labels;
  std::string bridge_name; // host bridge interface (<= 15 bytes); empty = Docker's "br-<id>"
};

struct NetworkInfo {
  std::string id;
  std::string name;
  std::string bridge; // the host bridge interface: the bridge.name option, else "br-<id:12>"
  std::map<std::string, std::string> labels;
  std::string subnet;  // the first IPv4 subnet of its IPAM configuration
  std::string gateway; // that subnet's gateway, when Docker says
  std::string subnet6; // its IPv6 subnet, when IPv6 is enabled
  std::string gateway6;
};

/// What Docker says of an image (GET /images/NAME/json, or one element of GET /images/json).
struct ImageInfo {
  std::string id;
  std::vector<std::string> tags;             // "name:tag", as RepoTags
  std::map<std::string, std::string> labels; // Config.Labels (org.opencontainers.image.*, ...)
  std::int64_t size_bytes = 0;
  std::string created; // RFC 3339; may be empty
};

struct ExecOutput {
  int exit_code = -1;
  std::string out; // stdout and stderr, demultiplexed
  std::string err;
};

/// Progress of an image pull: a one-line status per layer, for the progress display.
using PullProgress = std::function<void(const std::string &line)>;

class ContainerRuntime {
public:
  virtual ~ContainerRuntime() = default;

  virtual Result<std::string> server_version() = 0; // e.g. "20.10.24 (API 1.41)"

  virtual Result<std::vector<NetworkInfo>>
  list_networks(const std::map<std::string, std::string> &labels) = 0;
  virtual Result<std::string> create_network(const NetworkSpec &spec) = 0; // returns id
  virtual Status remove_network(const std::string &name_or_id) = 0;        // ok if already gone

  virtual Result<bool> image_present(const std::string &image) = 0;
  virtual Status pull_image(const std::string &image, const PullProgress &progress) = 0;
  /// The image named IMAGE (name[:tag] or id); nullopt when Docker does not have it.
  virtual Result<std::optional<ImageInfo>> inspect_image(const std::string &image) = 0;
  /// Images carrying all the given labels ("" as a value: the key with any value).
  virtual Result<std::vector<ImageInfo>>
  list_images(const std::map<std::string, std::string> &labels) = 0;

  /// Containers (running or not) carrying all the given labels.
  virtual Result<std::vector<ContainerInfo>>
  list_containers(const std::map<std::string, std::string> &labels) = 0;
  virtual Result<std::string> create_container(const ContainerSpec &spec) = 0; // returns id
  virtual Status start_container(const std::string &id) = 0;
  /// Stops a running container (SIGTERM, then SIGKILL after Docker's timeout); ok if stopped.
  /// `timeout_seconds`: how long Docker waits after SIGTERM before SIGKILL (-1: the container's
  /// own setting, 10 s by default).
  virtual Status stop_container(const std::string &id, int timeout_seconds = -1) = 0;
  virtual Result<ContainerInfo> inspect_container(const std::string &name_or_id) = 0;
  virtual Status remove_container(const std::string &name_or_id) = 0; // force; ok if already gone

  /// Freezes every process of a running container (docker pause); ok when it is paused already.
  virtual Status pause_container(const std::string &id) = 0;
  /// Thaws a paused container; ok when it is not paused.
  virtual Status unpause_container(const std::string &id) = 0;
  /// The container's file system changes as a new image `image` ("repo:tag") on top of its own,
  /// carrying `labels`; returns the image's id. Does not pause: the caller has paused it.
  virtual Result<std::string>
  commit_container(const std::string &id, const std::string &image,
                   const std::map<std::string, std::string> &labels) = 0;
  /// Bytes the container has written on top of its image (Docker's SizeRw).
  virtual Result<std::int64_t> container_changes_size(const std::string &id) = 0;
  /// list_containers() with each one's SizeRw, in one request (Docker measures every writable
  /// layer: some milliseconds more than the plain listing, far fewer than one request each).
  virtual Result<std::vector<std::pair<ContainerInfo, std::int64_t>>>
  list_containers_sized(const std::map<std::string, std::string> &labels) = 0;
  /// Removes an image (its tag, and its layers no other image uses); ok when it is gone.
  virtual Status remove_image(const std::string &image) = 0;
  /// `docker save` of one image (name or id) into `file` (made or replaced), streamed: images can
  /// be larger than memory. Saved by id, the archive names no tag, so a load tags nothing.
  virtual Status save_image(const std::string &image, const std::string &file) = 0;
  /// `docker load` of an archive of save_image(), streamed from `file`; what Docker says it loaded
  /// ("sha256:..." for an image saved by id, else "name:tag").
  virtual Result<std::vector<std::string>> load_image(const std::string &file) = 0;

  /// Runs argv in the container and waits for it, at most `timeout_seconds` (0: Docker client's
  /// own limit of minutes; when it passes, the command may go on in the container).
  virtual Result<ExecOutput> exec(const std::string &id, const std::vector<std::string> &argv,
                                  int timeout_seconds = 0) = 0;
};

/// The real client. Fails with a clear message (how to start dockerd) when the socket does not
/// answer.
Result<std::unique_ptr<ContainerRuntime>>
connect_docker(const std::string &socket_path = "/var/run/docker.sock");

/// One event of Docker's stream about a container.
struct ContainerEvent {
  std::int64_t time_ns = 0; // timeNano
  std::string action; // "create", "start", "kill", "die", "stop", "destroy", "exec_create: ..."
  std::string id;
  /// Actor.Attributes: the container's labels, "name", "image", "exitCode" (die), "signal" (kill).
  std::map<std::string, std::string> attributes;
};

/// Docker's event stream (GET /events), apart from ContainerRuntime because it holds a connection
/// open for as long as it is watched.
class ContainerEvents {
public:
  virtual ~ContainerEvents() = default;
  /// Calls `on_event` for every event of a container carrying all `labels` ("" as a value: the
  /// key with any value) since `since_ns` (unix time; Docker replays what it keeps from then),
  /// then as they happen, until `stop` is set (seen within 50 ms) or the stream breaks (an
  /// error: Docker went away).
  virtual Status watch(const std::map<std::string, std::string> &labels, std::int64_t since_ns,
                       const std::function<void(const ContainerEvent &)> &on_event,
                       const std::atomic<bool> &stop) = 0;
};

/// The real stream; fails like connect_docker() when the socket does not answer.
Result<std::unique_ptr<ContainerEvents>>
connect_docker_events(const std::string &socket_path = "/var/run/docker.sock");

} // namespace ltb::runtime
