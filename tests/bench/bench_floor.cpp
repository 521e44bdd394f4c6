// The floor for ltb's deploy benchmark: what the Docker API alone costs to create and start N
// containers (one thread per container, as fast as dockerd allows), and to remove them. ltb up is
// judged as a ratio of this figure measured in the same run, so the machine's speed cancels out.
//
//   bench_floor create N IMAGE PREFIX [SUBNET]   creates PREFIX-1..PREFIX-N and starts them;
//                                                with SUBNET, first an internal network PREFIX
//                                                with static addresses, as ltb's management
//                                                network; prints the elapsed seconds
//   bench_floor remove PREFIX N                  removes them (and the network); prints seconds

#include "runtime/docker/docker.hpp"

#include <arpa/inet.h>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fmt/format.h>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using ltb::runtime::ContainerRuntime;

constexpr const char *k_label = "ltbtest.bench-floor";

int usage() {
  fmt::print(stderr, "usage: bench_floor create N IMAGE PREFIX [SUBNET]\n"
                     "       bench_floor remove PREFIX N\n");
  return 2;
}

/// N from the command line: 1..250 (one /24 of static addresses).
int parse_count(const std::string &text) {
  try {
    std::size_t used = 0;
    int n = std::stoi(text, &used);
    return used == text.size() && n >= 1 && n <= 250 ? n : 0;
  } catch (const std::exception &) {
    return 0;
  }
}

/// The address `offset` after the network address of an IPv4 CIDR; empty when it does not parse.
std::string address_in(const std::string &cidr, std::uint32_t offset) {
  auto slash = cidr.find('/');
  in_addr addr{};
  if (slash == std::string::npos || inet_pton(AF_INET, cidr.substr(0, slash).c_str(), &addr) != 1) {
    return {};
  }
  int bits = std::stoi(cidr.substr(slash + 1));
  std::uint32_t mask = bits == 0 ? 0 : ~std::uint32_t{0} << (32 - bits);
  addr.s_addr = htonl((ntohl(addr.s_addr) & mask) + offset);
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &addr, text, sizeof text);
  return text;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

/// Runs job(i) for i in 1..n on n threads; returns the errors (empty = all succeeded).
template <typename Job> std::vector<std::string> in_parallel(int n, Job job) {
  std::mutex mutex;
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (int i = 1; i <= n; ++i) {
    threads.emplace_back([&, i] {
      auto error = job(i);
      if (!error.empty()) {
        std::lock_guard lock(mutex);
        errors.push_back(std::move(error));
      }
    });
  }
  for (auto &thread : threads) {
    thread.join();
  }
  return errors;
}

int report_errors(const std::vector<std::string> &errors, const std::string &prefix) {
  for (const auto &error : errors) {
    fmt::print(stderr, "bench_floor: error: {}\n", error);
  }
  fmt::print(stderr, "help: remove what was made with `bench_floor remove {} N`\n", prefix);
  return 1;
}

int create(ContainerRuntime &docker, int n, const std::string &image, const std::string &prefix,
           const std::string &subnet) {
  auto start = std::chrono::steady_clock::now();
  std::string network;
  if (!subnet.empty()) {
    ltb::runtime::NetworkSpec spec;
    spec.name = prefix;
    spec.subnet = subnet;
    spec.gateway = address_in(subnet, 1);
    spec.internal = true;
    spec.labels = {{k_label, prefix}};
    if (spec.gateway.empty()) {
      fmt::print(stderr, "bench_floor: error: subnet '{}' is not an IPv4 CIDR\n", subnet);
      return 2;
    }
    auto created = docker.create_network(spec);
    if (!created) {
      fmt::print(stderr, "bench_floor: error: network {} ({}): {}\nhelp: {}\n", prefix, subnet,
                 created.error().message, "pick a free subnet (BENCH_SUBNET for run.sh)");
      return 1;
    }
    network = prefix;
  }
  auto errors = in_parallel(n, [&](int i) -> std::string {
    ltb::runtime::ContainerSpec spec;
    spec.name = fmt::format("{}-{}", prefix, i);
    spec.hostname = fmt::format("n{}", i);
    spec.image = image;
    spec.labels = {{k_label, prefix}};
    spec.network = network;
    if (!network.empty()) {
      spec.ipv4 = address_in(subnet, 1 + static_cast<std::uint32_t>(i));
    }
    auto id = docker.create_container(spec);
    if (!id) {
      return spec.name + ": " + id.error().message;
    }
    if (auto started = docker.start_container(*id); !started) {
      return spec.name + ": " + started.error().message;
    }
    return {};
  });
  auto elapsed = seconds_since(start);
  if (!errors.empty()) {
    return report_errors(errors, prefix);
  }
  fmt::print("{:.3f}\n", elapsed);
  return 0;
}

int remove(ContainerRuntime &docker, const std::string &prefix, int n) {
  auto start = std::chrono::steady_clock::now();
  auto errors = in_parallel(n, [&](int i) -> std::string {
    auto name = fmt::format("{}-{}", prefix, i);
    auto removed = docker.remove_container(name);
    return removed ? std::string() : name + ": " + removed.error().message;
  });
  // The network goes last (its endpoints must be gone); it is absent when created without one.
  auto networks = docker.list_networks({{k_label, prefix}});
  if (!networks) {
    errors.push_back("listing networks: " + networks.error().message);
  } else {
    for (const auto &network : *networks) {
      // dockerd may answer a container's DELETE before it has released the container's endpoint
      // (seen here: "has active endpoints" right after all removals succeeded); wait for that.
      auto removed = docker.remove_network(network.id);
      for (int tries = 0; !removed && tries < 50 &&
                          removed.error().message.find("active endpoints") != std::string::npos;
           ++tries) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        removed = docker.remove_network(network.id);
      }
      if (!removed) {
        errors.push_back("network " + network.name + ": " + removed.error().message);
      }
    }
  }
  auto elapsed = seconds_since(start);
  if (!errors.empty()) {
    return report_errors(errors, prefix);
  }
  fmt::print("{:.3f}\n", elapsed);
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    return usage();
  }
  auto docker = ltb::runtime::connect_docker();
  if (!docker) {
    fmt::print(stderr, "bench_floor: error: {}\nhelp: {}\n", docker.error().message,
               docker.error().help);
    return 1;
  }
  if (args[0] == "create" && (args.size() == 4 || args.size() == 5)) {
    int n = parse_count(args[1]);
    if (n == 0) {
      return usage();
    }
    return create(**docker, n, args[2], args[3], args.size() == 5 ? args[4] : std::string());
  }
  if (args[0] == "remove" && args.size() == 3) {
    int n = parse_count(args[2]);
    if (n == 0) {
      return usage();
    }
    return remove(**docker, args[1], n);
  }
  return usage();
}
