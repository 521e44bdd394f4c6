// ltb serve [--socket PATH] [--group NAME] [--schedule]
// ltb serve install --systemd [--root DIR]
#include "cli/context.hpp"
#include "server/server.hpp"
#include "service/users.hpp"
#include "state/store.hpp"

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <optional>
#include <string_view>
#include <unistd.h>

namespace ltb::cli {

namespace {

namespace fs = std::filesystem;

struct ServeOptions {
  std::string group = "ltb";
  bool schedule = false;
  std::string listen;
  std::string tls_cert;
  std::string tls_key;
  bool allow_plain_http = false;
  std::optional<std::string> web_root;
};

/// The installed web UI beside the binary: PREFIX/bin/ltb -> PREFIX/share/ltb/web.
std::string default_web_root(const std::string &binary) {
  return (fs::path(binary).parent_path().parent_path() / "share/ltb/web").string();
}

struct InstallOptions {
  bool systemd = false;
  std::string root;
};

std::string self_binary() {
  std::error_code ec;
  auto path = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string("/usr/local/bin/ltb") : path.string();
}

void log_line(const std::string &line) {
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
  fmt::print(stderr, "{} {}\n", stamp, line);
}

int run_serve(const Globals &globals, const ServeOptions &options) {
  if (::geteuid() != 0) {
    return report(globals,
                  Error{"ltb serve runs as root: it is the privileged part of ltb",
                        "start it as root (sudo ltb serve), or ask an admin", ExitCode::usage});
  }
  server::ServeOptions serve;
  if (!globals.socket_path.empty()) {
    serve.socket_path = globals.socket_path;
  }
  std::error_code ec;
  serve.state_path = fs::absolute(globals.state_path, ec).lexically_normal().string();
  serve.group = options.group;
  serve.schedule = options.schedule;
  serve.wait_seconds = globals.wait_seconds;
  serve.ltb_binary = self_binary();
  serve.listen = options.listen;
  serve.tls_cert = options.tls_cert;
  serve.tls_key = options.tls_key;
  serve.allow_plain_http = options.allow_plain_http;
  if (!options.listen.empty()) {
    // The UI when it is installed (or named); the API answers without it.
    std::error_code exists_ec;
    const auto root = options.web_root.value_or(default_web_root(serve.ltb_binary));
    if (options.web_root && !fs::is_regular_file(fs::path(root) / "index.html", exists_ec)) {
      return report(globals,
                    Error{fmt::format("--web-root {}: no index.html there", root),
                          "build the UI (make web) and name its dist directory", ExitCode::usage});
    }
    if (fs::is_regular_file(fs::path(root) / "index.html", exists_ec)) {
      serve.web_root = root;
    }
  }
  // The state file exists (and is migrated) before the first request's child opens it.
  if (auto store = open_store(globals); !store) {
    return report(globals, store.error());
  }
  const std::atomic<bool> *stop = interrupt_token().watch();
  // Who a peer uid is to ltb: its user table (a Unix user it does not know is refused).
  const server::Identify identify = [](const service::Context &context, uid_t uid) {
    return service::identify(context, uid);
  };
  auto served = server::serve(serve, identify, *stop, log_line);
  if (!served) {
    return report(globals, served.error());
  }
  log_line("stopped");
  return 0;
}

std::string service_unit(const std::string &command) {
  return fmt::format("# Written by `ltb serve install --systemd`.\n"
                     "[Unit]\n"
                     "Description=ltb daemon: the API of a shared lab host (ltb serve)\n"
                     "Documentation=man:ltb(1)\n"
                     "Requires=ltb.socket\n"
                     "After=ltb.socket network.target docker.service libvirtd.service "
                     "openvswitch-switch.service\n"
                     "\n"
                     "[Service]\n"
                     "Type=simple\n"
                     "ExecStart={}\n"
                     "Restart=on-failure\n"
                     "RestartSec=2\n"
                     "KillMode=mixed\n"
                     "TimeoutStopSec=30\n"
                     "\n"
                     "[Install]\n"
                     "WantedBy=multi-user.target\n"
                     "Also=ltb.socket\n",
                     command);
}

std::string socket_unit(const std::string &socket, const std::string &group) {
  return fmt::format("# Written by `ltb serve install --systemd`.\n"
                     "[Unit]\n"
                     "Description=ltb daemon's socket: ltb for users who are not root\n"
                     "Documentation=man:ltb(1)\n"
                     "\n"
                     "[Socket]\n"
                     "ListenStream={}\n"
                     "SocketUser=root\n"
                     "SocketGroup={}\n"
                     "SocketMode=0660\n"
                     "DirectoryMode=0755\n"
                     "RemoveOnStop=yes\n"
                     "\n"
                     "[Install]\n"
                     "WantedBy=sockets.target\n",
                     socket, group);
}

int run_install(const Globals &globals, const ServeOptions &serve, const InstallOptions &options) {
  if (!options.systemd) {
    return report(globals, Error{"say what to install", "ltb serve install --systemd [--root DIR]",
                                 ExitCode::usage});
  }
  std::error_code ec;
  const std::string state = fs::absolute(globals.state_path, ec).lexically_normal().string();
  const std::string socket =
      globals.socket_path.empty() ? server::ServeOptions{}.socket_path : globals.socket_path;
  std::string command = fmt::format("{} --state {}", self_binary(), state);
  if (!globals.socket_path.empty()) {
    command += " --socket " + socket;
  }
  command += " serve --schedule";
  if (serve.group != "ltb") {
    command += " --group " + serve.group;
  }
  // The network listener's options, as given before `install`.
  for (const auto &[flag, value] :
       {std::pair{"--listen", serve.listen}, std::pair{"--tls-cert", serve.tls_cert},
        std::pair{"--tls-key", serve.tls_key},
        std::pair{"--web-root", serve.web_root.value_or("")}}) {
    if (!value.empty()) {
      // Files as absolute paths: systemd starts the daemon from /.
      const bool path = std::string_view(flag) != "--listen";
      command += fmt::format(" {} {}", flag, path ? fs::absolute(value, ec).string() : value);
    }
  }
  if (serve.allow_plain_http) {
    command += " --allow-plain-http";
  }
  const std::string root = options.root.empty() ? "/" : options.root;
  const bool live = fs::equivalent(root, "/", ec);
  const fs::path dir =
      fs::path(live ? "/" : fs::absolute(root, ec).string()) / "etc/systemd/system";
  fs::create_directories(dir, ec);
  for (const auto &[name, text] :
       {std::pair{std::string("ltb.socket"), socket_unit(socket, serve.group)},
        std::pair{std::string("ltb.service"), service_unit(command)}}) {
    const fs::path unit = dir / name;
    std::ofstream out(unit, std::ios::trunc);
    out << text;
    out.close();
    if (ec || !out) {
      return report(globals, Error{fmt::format("cannot write {}", unit.string()),
                                   "run as root, or pass --root DIR to write it elsewhere"});
    }
    fmt::print("wrote {}\n", unit.string());
  }
  std::ifstream comm("/proc/1/comm");
  std::string pid1;
  std::getline(comm, pid1);
  if (!live) {
    fmt::print("they are under {}, not /: nothing was enabled. To use them, copy them to "
               "/etc/systemd/system, then run: systemctl daemon-reload && systemctl enable --now "
               "ltb.socket ltb.service\n",
               root);
  } else if (pid1 != "systemd") {
    fmt::print("systemd is not running here (PID 1 is {}), so nothing was enabled. Start the "
               "daemon by hand instead (group {} must exist: groupadd {}), for example:\n"
               "  nohup {} >>/var/log/ltb-serve.log 2>&1 &\n",
               pid1.empty() ? "unknown" : pid1, serve.group, serve.group, command);
  } else {
    fmt::print("enable and start them: systemctl daemon-reload && systemctl enable --now "
               "ltb.socket ltb.service\n");
  }
  return 0;
}

} // namespace

void add_serve(CLI::App &app, Globals &globals, Registry &registry) {
  auto options = std::make_shared<ServeOptions>();
  auto *sub = app.add_subcommand(
      "serve", "Run the ltb daemon: the API (on a unix socket) through which users who are not "
               "root run ltb");
  sub->add_option("--group", options->group,
                  "The group whose members may use the socket (default ltb)")
      ->type_name("NAME");
  sub->add_flag("--schedule", options->schedule,
                "Also run the reservation scheduler (`ltb schedule run`) beside the daemon");
  sub->add_option("--listen", options->listen,
                  "Also serve the API and the web UI on this TCP address (127.0.0.1:8443, "
                  "[::]:8443); callers log in or send a bearer token")
      ->type_name("ADDR:PORT");
  sub->add_option("--tls-cert", options->tls_cert,
                  "HTTPS on --listen: the certificate (PEM, with its chain)")
      ->type_name("FILE");
  sub->add_option("--tls-key", options->tls_key, "HTTPS on --listen: the certificate's key (PEM)")
      ->type_name("FILE");
  sub->add_flag("--allow-plain-http", options->allow_plain_http,
                "Allow --listen without TLS on an address that is not loopback");
  sub->add_option("--web-root", options->web_root,
                  "The web UI's files (default: PREFIX/share/ltb/web, when installed)")
      ->type_name("DIR");
  sub->footer("The socket is --socket PATH (default /run/ltb/ltb.sock), mode 0660, owned by "
              "root:GROUP.\nExamples:\n  ltb serve --schedule\n  ltb serve --listen "
              "127.0.0.1:8080\n  ltb serve --listen [::]:8443 --tls-cert /etc/ltb/cert.pem "
              "--tls-key /etc/ltb/key.pem\n  ltb serve install --systemd\n  ltb serve --listen "
              "127.0.0.1:8080 install --systemd");

  auto install = std::make_shared<InstallOptions>();
  auto *install_cmd = sub->add_subcommand("install", "Write the daemon's systemd units");
  install_cmd->add_flag("--systemd", install->systemd, "Write ltb.service and ltb.socket")
      ->required();
  install_cmd->add_option("--root", install->root, "Write under DIR instead of / (nothing enabled)")
      ->type_name("DIR");
  registry.push_back({install_cmd, [&globals, options, install] {
                        return run_install(globals, *options, *install);
                      }});
  // After install: the first parsed command of the registry runs, and `serve install` parses both.
  registry.push_back({sub, [&globals, options] { return run_serve(globals, *options); }});
}

} // namespace ltb::cli
