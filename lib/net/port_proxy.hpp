#pragma once
// Published ports of a lab whose management network is isolated (containerlab's `ports`, with
// ltb's default management network): Docker publishes nothing from an internal network, so ltb
// starts Docker's own userland proxy, docker-proxy, once per published port, listening on the
// host and forwarding to the node's management address (which the host reaches over the lab's
// management bridge). Each proxy's pid file lives in the lab directory (ports/), with the line it
// serves; ltb started the process, so ltb ends it, by that pid, after checking that the pid
// still is that docker-proxy (its command line is the line's).
//
// A line: "NODE PROTO HOST-IP HOST-PORT NODE-IP PORT", e.g. "web tcp 0.0.0.0 8080 172.20.20.2 80"
// (plan::published_ports writes them, one per port, sorted).

#include "util/error.hpp"

#include <string>
#include <vector>

namespace ltb::net {

struct PublishedPort {
  std::string node;
  std::string protocol = "tcp"; // tcp or udp
  std::string host_ip;          // the address it listens on (0.0.0.0 = every IPv4 address)
  int host_port = 0;
  std::string node_ip; // the node's management address
  int port = 0;

  bool operator==(const PublishedPort &) const = default;
  std::string line() const;
};

/// The lines of format (one per port, in order, each ending in '\n'); fails naming the line on
/// text that line() did not write.
Result<std::vector<PublishedPort>> parse_published_ports(const std::string &text);

/// The docker-proxy command line for one port.
std::vector<std::string> docker_proxy_argv(const PublishedPort &port);

class PortProxies {
public:
  virtual ~PortProxies() = default;
  /// The lines of the proxies that run for the lab (sorted as plan::published_ports sorts them),
  /// and whether any pid file is there at all (a dead proxy's too).
  struct State {
    std::string running;
    bool present = false;
  };
  virtual State state(const std::string &lab_dir) = 0;
  /// Makes the lab's proxies those of TEXT: stops the ones it does not list (and dead ones'
  /// files), starts the missing ones, each returning once it listens (or with why it cannot).
  virtual Status apply(const std::string &lab_dir, const std::string &text) = 0;
  /// Stops them all and removes their files. Ok when there are none.
  virtual Status stop(const std::string &lab_dir) = 0;
};

/// The real one (docker-proxy processes). Stateless, so one instance serves all.
PortProxies &host_port_proxies();

} // namespace ltb::net
