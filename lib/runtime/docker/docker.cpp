#include "runtime/docker/docker.hpp"

#include "runtime/docker/docker_json.hpp"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <curl/curl.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace ltb::runtime {
namespace {

using nlohmann::json;
using namespace docker;

struct CurlDeleter {
  void operator()(CURL *handle) const noexcept { curl_easy_cleanup(handle); }
};
using CurlPtr = std::unique_ptr<CURL, CurlDeleter>;

struct SlistDeleter {
  void operator()(curl_slist *list) const noexcept { curl_slist_free_all(list); }
};
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

struct MultiDeleter {
  void operator()(CURLM *multi) const noexcept { curl_multi_cleanup(multi); }
};
using MultiPtr = std::unique_ptr<CURLM, MultiDeleter>;

// How often a stream that lasts until told looks at its stop flag while no data comes.
constexpr int k_stop_poll_ms = 50;

// curl_easy_perform(), but for a stream with a stop flag: curl's own progress callback runs only
// about once a second on an idle connection, so `ltb events` would take up to a second to end on
// Ctrl-C. The multi interface's poll wakes for data at once and otherwise every k_stop_poll_ms.
CURLcode perform(CURL *handle, const std::atomic<bool> *stop) {
  if (stop == nullptr) {
    return curl_easy_perform(handle);
  }
  MultiPtr multi{curl_multi_init()};
  if (!multi || curl_multi_add_handle(multi.get(), handle) != CURLM_OK) {
    return CURLE_OUT_OF_MEMORY;
  }
  CURLcode result = CURLE_OK;
  bool done = false;
  for (int running = 1; running > 0;) {
    if (curl_multi_perform(multi.get(), &running) != CURLM_OK) {
      result = CURLE_RECV_ERROR;
      break;
    }
    if (running == 0) {
      done = true;
      break;
    }
    if (stop->load()) {
      result = CURLE_ABORTED_BY_CALLBACK;
      break;
    }
    curl_multi_poll(multi.get(), nullptr, 0, k_stop_poll_ms, nullptr);
  }
  int left = 0;
  while (done) {
    const CURLMsg *message = curl_multi_info_read(multi.get(), &left);
    if (message == nullptr) {
      break;
    }
    if (message->msg == CURLMSG_DONE && message->easy_handle == handle) {
      result = message->data.result;
    }
  }
  curl_multi_remove_handle(multi.get(), handle);
  return result;
}

// One easy handle per thread: a handle must not be used by two threads at once, and keeping it
// for the thread's life keeps its connection to dockerd alive between requests.
CURL *thread_handle() {
  thread_local CurlPtr handle{curl_easy_init()};
  return handle.get();
}

constexpr long k_connect_timeout_s = 5;
// Creating, starting or force-removing a container can take seconds on a loaded host; this only
// catches a daemon that stopped answering.
constexpr long k_request_timeout_s = 180;
constexpr long k_exec_timeout_s = 600;
constexpr long k_no_timeout = 0;

const char *const k_start_help = "start dockerd (see README: make setup) or check permissions";

enum class Method { get, post, del };

struct Request {
  Method method = Method::get;
  std::string path; // after the version prefix, e.g. "/containers/json"
  std::optional<std::string> body;
  long timeout_s = k_request_timeout_s;
  // Streaming responses (pull): called with each chunk of a successful response instead of
  // collecting it.
  std::function<void(std::string_view)> on_data;
  // Streams that last until told (events): set means "abort the transfer", looked at every
  // k_stop_poll_ms.
  const std::atomic<bool> *stop = nullptr;
  // A POST body streamed from this file descriptor (image load), `upload_size` bytes, instead
  // of `body`.
  int upload_fd = -1;
  std::int64_t upload_size = 0;
};

struct Response {
  long status = 0;
  std::string body;
  std::string api_version; // the API-Version header
};

struct Sink {
  CURL *handle = nullptr;
  Response *response = nullptr;
  const std::function<void(std::string_view)> *on_data = nullptr;
};

size_t write_body(char *data, size_t size, size_t count, void *user) {
  auto *sink = static_cast<Sink *>(user);
  const std::string_view chunk(data, size * count);
  long status = 0;
  curl_easy_getinfo(sink->handle, CURLINFO_RESPONSE_CODE, &status);
  if (*sink->on_data && status < 400) {
    (*sink->on_data)(chunk);
  } else {
    sink->response->body.append(chunk);
  }
  return chunk.size();
}

size_t read_upload(char *buffer, size_t size, size_t count, void *user) {
  const int fd = *static_cast<const int *>(user);
  for (;;) {
    const ssize_t n = ::read(fd, buffer, size * count);
    if (n >= 0) {
      return static_cast<size_t>(n);
    }
    if (errno != EINTR) {
      return CURL_READFUNC_ABORT;
    }
  }
}

int check_stop(void *user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto *stop = static_cast<const std::atomic<bool> *>(user);
  return stop->load() ? 1 : 0;
}

size_t read_header(char *data, size_t size, size_t count, void *user) {
  auto *response = static_cast<Response *>(user);
  std::string_view line(data, size * count);
  const auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    for (auto &c : name) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    if (name == "api-version") {
      auto value = line.substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
        value.remove_prefix(1);
      }
      while (!value.empty() &&
             (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
        value.remove_suffix(1);
      }
      response->api_version = std::string(value);
    }
  }
  return size * count;
}

const char *method_name(Method method) {
  switch (method) {
  case Method::get:
    return "GET";
  case Method::post:
    return "POST";
  case Method::del:
    return "DELETE";
  }
  return "GET";
}

class DockerClient final : public ContainerRuntime {
public:
  explicit DockerClient(std::string socket_path)
      : m_socket(std::move(socket_path)), m_privileges(host_privileges()) {}

  void set_api_version(std::string version) { m_prefix = "/v" + std::move(version); }

  Result<Response> get(std::string path, long timeout_s = k_request_timeout_s) {
    Request request;
    request.path = std::move(path);
    request.timeout_s = timeout_s;
    return send(request);
  }

  Result<Response> post(std::string path, std::optional<std::string> body = std::nullopt) {
    Request request;
    request.method = Method::post;
    request.path = std::move(path);
    request.body = std::move(body);
    return send(request);
  }

  Result<Response> del(std::string path) {
    Request request;
    request.method = Method::del;
    request.path = std::move(path);
    return send(request);
  }

  Result<Response> send(const Request &request) {
    CURL *handle = thread_handle();
    if (handle == nullptr) {
      return fail("cannot talk to Docker: libcurl could not create a handle",
                  "the system may be out of memory; try again");
    }
    // Reset drops the previous request's options but keeps the live connection.
    curl_easy_reset(handle);

    Response response;
    Sink sink{handle, &response, &request.on_data};
    char error_buffer[CURL_ERROR_SIZE] = {};
    const auto url = "http://localhost" + m_prefix + request.path;

    curl_easy_setopt(handle, CURLOPT_UNIX_SOCKET_PATH, m_socket.c_str());
    curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
    curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT, k_connect_timeout_s);
    curl_easy_setopt(handle, CURLOPT_TIMEOUT, request.timeout_s);
    curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, error_buffer);
    curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(handle, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, read_header);
    curl_easy_setopt(handle, CURLOPT_HEADERDATA, &response);
    if (request.stop) {
      curl_easy_setopt(handle, CURLOPT_NOPROGRESS, 0L);
      curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, check_stop);
      curl_easy_setopt(handle, CURLOPT_XFERINFODATA, request.stop);
    }

    // Without "Expect:" curl waits for a 100-continue on bodies over 1 KiB.
    SlistPtr headers{curl_slist_append(nullptr, "Expect:")};
    switch (request.method) {
    case Method::get:
      break;
    case Method::post:
      curl_easy_setopt(handle, CURLOPT_POST, 1L);
      if (request.upload_fd >= 0) {
        headers.reset(curl_slist_append(headers.release(), "Content-Type: application/x-tar"));
        curl_easy_setopt(handle, CURLOPT_READFUNCTION, read_upload);
        curl_easy_setopt(handle, CURLOPT_READDATA, &request.upload_fd);
        curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(request.upload_size));
      } else if (request.body) {
        headers.reset(curl_slist_append(headers.release(), "Content-Type: application/json"));
        curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(request.body->size()));
        curl_easy_setopt(handle, CURLOPT_POSTFIELDS, request.body->data());
      } else {
        curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE, 0L);
        curl_easy_setopt(handle, CURLOPT_POSTFIELDS, "");
      }
      break;
    case Method::del:
      curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, "DELETE");
      break;
    }
    curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers.get());

    const CURLcode code = perform(handle, request.stop);
    // The handle outlives this call; do not leave it pointing at our stack.
    curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, nullptr);
    curl_easy_setopt(handle, CURLOPT_HTTPHEADER, nullptr);
    if (code != CURLE_OK) {
      if (code == CURLE_OPERATION_TIMEDOUT) {
        return fail(fmt::format("Docker at {} did not answer {} {} within {} s", m_socket,
                                method_name(request.method), request.path, request.timeout_s),
                    "check that dockerd is not stuck (see its log) and try again");
      }
      return fail(fmt::format("cannot reach Docker at {}: {}", m_socket,
                              transport_reason(handle, code, error_buffer)),
                  k_start_help);
    }
    curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &response.status);
    return response;
  }

  // The OS error says more than curl's text, which talks of "localhost port 80" for a unix
  // socket.
  static std::string transport_reason(CURL *handle, CURLcode code, const char *error_buffer) {
    long os_errno = 0;
    curl_easy_getinfo(handle, CURLINFO_OS_ERRNO, &os_errno);
    if (os_errno != 0) {
      return std::strerror(static_cast<int>(os_errno));
    }
    if (error_buffer[0] != '\0') {
      return error_buffer;
    }
    return curl_easy_strerror(code);
  }

  static Error api_error(const std::string &what, const Response &response, std::string help = {}) {
    if (help.empty()) {
      help = "see the Docker daemon's log for details";
    }
    return Error{
        fmt::format("{}: {} (HTTP {})", what, api_error_message(response.body), response.status),
        std::move(help)};
  }

  static Result<json> parse_body(const std::string &what, const Response &response) {
    auto parsed = json::parse(response.body, nullptr, false);
    if (parsed.is_discarded()) {
      return fail(fmt::format("{}: Docker sent a reply that is not JSON", what),
                  "check that the socket belongs to a Docker Engine");
    }
    return parsed;
  }

  Result<std::string> server_version() override {
    LTB_TRY(response, get("/version"));
    const std::string what = "cannot read Docker's version";
    if (response.status != 200) {
      return fail(api_error(what, response));
    }
    LTB_TRY(body, parse_body(what, response));
    return fmt::format("{} (API {})", body.value("Version", "?"), body.value("ApiVersion", "?"));
  }

  Result<std::vector<NetworkInfo>>
  list_networks(const std::map<std::string, std::string> &labels) override {
    LTB_TRY(response, get("/networks?filters=" + url_encode(label_filters(labels))));
    const std::string what = "cannot list Docker networks";
    if (response.status != 200) {
      return fail(api_error(what, response));
    }
    LTB_TRY(body, parse_body(what, response));
    std::vector<NetworkInfo> result;
    for (const auto &network : body) {
      result.push_back(parse_network(network));
    }
    return result;
  }

  Result<std::string> create_network(const NetworkSpec &spec) override {
    LTB_TRY(response, post("/networks/create", network_create_body(spec).dump()));
    const auto what = fmt::format("cannot create Docker network '{}'", spec.name);
    if (response.status == 409) {
      auto error = api_error(what, response,
                             "remove the old network (docker network rm) or run 'ltb down' for "
                             "the lab that owns it");
      error.kind = ErrorKind::already_exists;
      return fail(std::move(error));
    }
    if (response.status != 201 && response.status != 200) {
      auto error =
          api_error(what, response, "check that the subnet does not overlap another network's");
      // Docker answers 403 when the address pool overlaps one in use ("Pool overlaps with other
      // one on this address space").
      if (response.status == 403) {
        error.kind = ErrorKind::address_in_use;
      }
      return fail(std::move(error));
    }
    LTB_TRY(body, parse_body(what, response));
    return body.value("Id", "");
  }

  Status remove_network(const std::string &name_or_id) override {
    // Docker may take a moment to let go of the endpoints of containers just removed.
    constexpr int k_tries = 15;
    constexpr auto k_pause = std::chrono::milliseconds(200);
    Response response;
    for (int attempt = 1;; ++attempt) {
      LTB_TRY(answer, del("/networks/" + path_encode(name_or_id)));
      response = std::move(answer);
      if (response.status == 204 || response.status == 200 || response.status == 404) {
        return {};
      }
      if (response.status != 403 || attempt == k_tries ||
          response.body.find("active endpoints") == std::string::npos) {
        break;
      }
      std::this_thread::sleep_for(k_pause);
    }
    return fail(api_error(fmt::format("cannot remove Docker network '{}'", name_or_id), response,
                          attached_help(name_or_id, response)));
  }

  /// What to do about a network that Docker will not remove: the containers still on it, or,
  /// with none, Docker's own stale endpoint (dockerd 20.10 can keep the endpoint of a removed
  /// container until it restarts).
  std::string attached_help(const std::string &name_or_id, const Response &refusal) {
    if (refusal.status != 403 || refusal.body.find("active endpoints") == std::string::npos) {
      return "remove the containers still attached to it first";
    }
    auto inspected = get("/networks/" + path_encode(name_or_id));
    if (!inspected || inspected->status != 200) {
      return "remove the containers still attached to it first";
    }
    auto body = json::parse(inspected->body, nullptr, false);
    std::vector<std::string> names;
    if (body.is_object() && body.contains("Containers") && body["Containers"].is_object()) {
      for (const auto &[id, endpoint] : body["Containers"].items()) {
        names.push_back(endpoint.is_object() ? endpoint.value("Name", id) : id);
      }
    }
    if (names.empty()) {
      return "no container is attached: Docker kept a stale endpoint (a dockerd fault); restart "
             "dockerd, then run the command again";
    }
    return fmt::format("remove the containers still attached to it first: {}",
                       fmt::join(names, ", "));
  }

  Result<bool> image_present(const std::string &image) override {
    LTB_TRY(response, get("/images/" + path_encode(image) + "/json"));
    if (response.status == 200) {
      return true;
    }
    if (response.status == 404) {
      return false;
    }
    return fail(api_error(fmt::format("cannot look up image '{}'", image), response));
  }

  Result<std::optional<ImageInfo>> inspect_image(const std::string &image) override {
    LTB_TRY(response, get("/images/" + path_encode(image) + "/json"));
    if (response.status == 404) {
      return std::optional<ImageInfo>{};
    }
    const auto what = fmt::format("cannot look up image '{}'", image);
    if (response.status != 200) {
      return fail(api_error(what, response));
    }
    LTB_TRY(body, parse_body(what, response));
    return std::optional<ImageInfo>{parse_image(body)};
  }

  Result<std::vector<ImageInfo>>
  list_images(const std::map<std::string, std::string> &labels) override {
    LTB_TRY(response, get("/images/json?filters=" + url_encode(image_filters(labels))));
    const std::string what = "cannot list Docker images";
    if (response.status != 200) {
      return fail(api_error(what, response));
    }
    LTB_TRY(body, parse_body(what, response));
    std::vector<ImageInfo> result;
    for (const auto &image : body) {
      result.push_back(parse_image(image));
    }
    return result;
  }

  Status pull_image(const std::string &image, const PullProgress &progress) override {
    const auto ref = split_image(image);
    auto path = "/images/create?fromImage=" + url_encode(ref.from_image);
    if (!ref.tag.empty()) {
      path += "&tag=" + url_encode(ref.tag);
    }
    std::string pending;
    std::optional<std::string> stream_error;
    const auto handle_line = [&](std::string_view line) {
      auto parsed = parse_pull_line(line);
      if (!parsed) {
        return;
      }
      if (parsed->error) {
        stream_error = *parsed->error;
      } else if (progress) {
        progress(parsed->text);
      }
    };
    Request request{Method::post, path, std::nullopt, k_no_timeout, [&](std::string_view chunk) {
                      pending.append(chunk);
                      std::size_t newline = 0;
                      while ((newline = pending.find('\n')) != std::string::npos) {
                        handle_line(std::string_view(pending).substr(0, newline));
                        pending.erase(0, newline + 1);
                      }
                    }};
    LTB_TRY(response, send(request));
    handle_line(pending);
    const auto what = fmt::format("cannot pull image '{}'", image);
    const char *help = "build it (make images) or pull it; ltb pulls images that a registry has";
    if (response.status != 200) {
      return fail(api_error(what, response, help));
    }
    if (stream_error) {
      return fail(fmt::format("{}: {}", what, *stream_error), help);
    }
    return {};
  }

  Result<std::vector<ContainerInfo>>
  list_containers(const std::map<std::string, std::string> &labels) override {
    LTB_TRY(response, get("/containers/json?all=1&filters=" + url_encode(label_filters(labels))));
    const std::string what = "cannot list Docker containers";
    if (response.status != 200) {
      return fail(api_error(what, response));
    }
    LTB_TRY(body, parse_body(what, response));
    std::vector<ContainerInfo> result;
    for (const auto &container : body) {
      result.push_back(parse_container_summary(container));
    }
    return result;
  }

  Result<std::vector<std::pair<ContainerInfo, std::int64_t>>>
  list_containers_sized(const std::map<std::string, std::string> &labels) override {
    LTB_TRY(response,
            get("/containers/json?all=1&size=1&filters=" + url_encode(label_filters(labels))));
    const std::string what = "cannot list Docker containers";
    if (response.status != 200) {
      return fail(api_error(what, response));
    }
    LTB_TRY(body, parse_body(what, response));
    std::vector<std::pair<ContainerInfo, std::int64_t>> result;
    for (const auto &container : body) {
      // Docker leaves SizeRw out when it is 0.
      const auto size = container.find("SizeRw");
      result.emplace_back(parse_container_summary(container),
                          size != container.end() && size->is_number() ? size->get<std::int64_t>()
                                                                       : std::int64_t{0});
    }
    return result;
  }

  Result<std::string> create_container(const ContainerSpec &spec) override {
    LTB_TRY(response, post("/containers/create?name=" + url_encode(spec.name),
                           container_create_body(spec, m_privileges).dump()));
    const auto what = fmt::format("cannot create container '{}'", spec.name);
    if (response.status == 404 &&
        api_error_message(response.body).find("No such image") != std::string::npos) {
      return fail(fmt::format("{}: image '{}' is not present ({})", what, spec.image,
                              api_error_message(response.body)),
                  "build it (make images) or pull it; ltb pulls images that a registry has");
    }
    if (response.status == 409) {
      return fail(api_error(what, response,
                            fmt::format("remove the old container (docker rm -f {}) or run 'ltb "
                                        "down' for the lab that owns it",
                                        spec.name)));
    }
    if (response.status != 201) {
      return fail(api_error(what, response));
    }
    LTB_TRY(body, parse_body(what, response));
    return body.value("Id", "");
  }

  Status start_container(const std::string &id) override {
    LTB_TRY(response, post("/containers/" + path_encode(id) + "/start"));
    if (response.status == 204 || response.status == 304) {
      return {};
    }
    return fail(api_error(fmt::format("cannot start container '{}'", id), response,
                          "see the container's log (docker logs) and the Docker daemon's log"));
  }

  Status stop_container(const std::string &id, int timeout_seconds = -1) override {
    auto path = "/containers/" + path_encode(id) + "/stop";
    if (timeout_seconds >= 0) {
      path += "?t=" + std::to_string(timeout_seconds);
    }
    // Docker answers once the container is down: give it the grace period and more.
    LTB_TRY(response, post(path));
    if (response.status == 204 || response.status == 304) {
      return {};
    }
    return fail(api_error(fmt::format("cannot stop container '{}'", id), response,
                          "see the Docker daemon's log"));
  }

  Result<ContainerInfo> inspect_container(const std::string &name_or_id) override {
    LTB_TRY(response, get("/containers/" + path_encode(name_or_id) + "/json"));
    const auto what = fmt::format("cannot inspect container '{}'", name_or_id);
    if (response.status == 404) {
      return fail(
          api_error(what, response, "it was removed outside ltb; run 'ltb up' to recreate it"));
    }
    if (response.status != 200) {
      return fail(api_error(what, response));
    }
    LTB_TRY(body, parse_body(what, response));
    return parse_container_inspect(body);
  }

  Status remove_container(const std::string &name_or_id) override {
    LTB_TRY(response, del("/containers/" + path_encode(name_or_id) + "?force=1&v=1"));
    if (response.status == 204 || response.status == 200 || response.status == 404) {
      return {};
    }
    if (response.status == 409) {
      // With force, Docker answers 409 only when a removal of the container is already in
      // progress (for example one started by an `ltb down` that was killed): wait for it to end.
      return wait_removed(name_or_id, response);
    }
    return fail(api_error(fmt::format("cannot remove container '{}'", name_or_id), response));
  }

  Status wait_removed(const std::string &name_or_id, const Response &conflict) {
    constexpr auto k_limit = std::chrono::seconds(60);
    const auto deadline = std::chrono::steady_clock::now() + k_limit;
    while (std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      LTB_TRY(response, get("/containers/" + path_encode(name_or_id) + "/json"));
      if (response.status == 404) {
        return {};
      }
    }
    return fail(api_error(fmt::format("cannot remove container '{}': Docker's removal of it did "
                                      "not end within {} s",
                                      name_or_id, k_limit.count()),
                          conflict, "check the Docker daemon's log, then run ltb again"));
  }

  Status pause_container(const std::string &id) override {
    LTB_TRY(response, post("/containers/" + path_encode(id) + "/pause"));
    if (response.status == 204 || response.status == 304) {
      return {};
    }
    // Pausing a paused container is a 409 "already paused": what the caller wanted.
    if (response.status == 409 &&
        api_error_message(response.body).find("already paused") != std::string::npos) {
      return {};
    }
    return fail(api_error(fmt::format("cannot pause container '{}'", id), response));
  }

  Status unpause_container(const std::string &id) override {
    LTB_TRY(response, post("/containers/" + path_encode(id) + "/unpause"));
    if (response.status == 204 || response.status == 304) {
      return {};
    }
    if (response.status == 409 &&
        api_error_message(response.body).find("not paused") != std::string::npos) {
      return {};
    }
    return fail(api_error(fmt::format("cannot unpause container '{}'", id), response,
                          fmt::format("run `docker unpause {}` by hand", id)));
  }

  Result<std::string> commit_container(const std::string &id, const std::string &image,
                                       const std::map<std::string, std::string> &labels) override {
    const auto ref = split_image(image);
    auto path =
        "/commit?pause=0&container=" + url_encode(id) + "&repo=" + url_encode(ref.from_image);
    if (!ref.tag.empty()) {
      path += "&tag=" + url_encode(ref.tag);
    }
    json body = json::object();
    body["Labels"] = labels;
    Request request{Method::post, path, body.dump(), k_no_timeout, nullptr};
    LTB_TRY(response, send(request));
    const auto what = fmt::format("cannot commit container '{}' as image '{}'", id, image);
    if (response.status != 201 && response.status != 200) {
      return fail(api_error(what, response));
    }
    LTB_TRY(parsed, parse_body(what, response));
    return parsed.value("Id", "");
  }

  Result<std::int64_t> container_changes_size(const std::string &id) override {
    LTB_TRY(response, get("/containers/" + path_encode(id) + "/json?size=1"));
    const auto what = fmt::format("cannot measure container '{}'", id);
    if (response.status != 200) {
      return fail(api_error(what, response));
    }
    LTB_TRY(body, parse_body(what, response));
    const auto it = body.find("SizeRw");
    return it != body.end() && it->is_number() ? it->get<std::int64_t>() : std::int64_t{0};
  }

  Status remove_image(const std::string &image) override {
    LTB_TRY(response, del("/images/" + path_encode(image) + "?force=1"));
    if (response.status == 200 || response.status == 404) {
      return {};
    }
    return fail(api_error(fmt::format("cannot remove image '{}'", image), response,
                          "a container may still use it: remove the container first"));
  }

  Status save_image(const std::string &image, const std::string &file) override {
    const auto what = fmt::format("cannot save image '{}' to {}", image, file);
    const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
      return fail(fmt::format("{}: {}", what, std::strerror(errno)),
                  "check the folder's permissions and free space");
    }
    std::atomic<bool> stop{false};
    int write_errno = 0;
    Request request{Method::get, "/images/get?names=" + url_encode(image), std::nullopt,
                    k_no_timeout, [&](std::string_view chunk) {
                      while (!chunk.empty() && !stop.load()) {
                        const ssize_t n = ::write(fd, chunk.data(), chunk.size());
                        if (n < 0 && errno == EINTR) {
                          continue;
                        }
                        if (n < 0) {
                          write_errno = errno;
                          stop = true; // the transfer ends at once: the disk is full, say
                          break;
                        }
                        chunk.remove_prefix(static_cast<std::size_t>(n));
                      }
                    }};
    request.stop = &stop;
    auto response = send(request);
    const bool closed = ::close(fd) == 0;
    if (write_errno != 0 || !closed) {
      return fail(
          fmt::format("{}: {}", what, std::strerror(write_errno != 0 ? write_errno : errno)),
          "check the free space of the state file's disk");
    }
    if (!response) {
      return fail(response.error());
    }
    if (response->status != 200) {
      return fail(api_error(what, *response));
    }
    return {};
  }

  Result<std::vector<std::string>> load_image(const std::string &file) override {
    const auto what = fmt::format("cannot load the image archive {} into Docker", file);
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0) {
      const int error = errno;
      if (fd >= 0) {
        ::close(fd);
      }
      return fail(fmt::format("{}: {}", what, std::strerror(error)));
    }
    Request request{Method::post, "/images/load?quiet=1", std::nullopt, k_no_timeout, nullptr};
    request.upload_fd = fd;
    request.upload_size = st.st_size;
    auto response = send(request);
    ::close(fd);
    LTB_TRY(answered, std::move(response));
    if (answered.status != 200) {
      return fail(api_error(what, answered, "the archive is damaged; export it again"));
    }
    auto output = parse_load_output(answered.body);
    if (output.error) {
      return fail(fmt::format("{}: {}", what, *output.error),
                  "the archive is damaged; export it again");
    }
    if (output.loaded.empty()) {
      return fail(fmt::format("{}: Docker loaded no image from it", what),
                  "the archive is damaged; export it again");
    }
    return output.loaded;
  }

  Result<ExecOutput> exec(const std::string &id, const std::vector<std::string> &argv,
                          int timeout_seconds = 0) override {
    const auto what = fmt::format("cannot run '{}' in container '{}'",
                                  argv.empty() ? std::string() : argv.front(), id);
    LTB_TRY(created,
            post("/containers/" + path_encode(id) + "/exec", exec_create_body(argv).dump()));
    if (created.status != 201) {
      return fail(api_error(what, created,
                            created.status == 409 ? "start the container first (ltb up)" : ""));
    }
    LTB_TRY(created_body, parse_body(what, created));
    const std::string exec_id = created_body.value("Id", "");

    // Docker answers 200 and then sends the raw multiplexed stream until the command ends.
    StreamDemux demux;
    Request start{Method::post, "/exec/" + exec_id + "/start",
                  json{{"Detach", false}, {"Tty", false}}.dump(),
                  timeout_seconds > 0 ? long{timeout_seconds} : k_exec_timeout_s,
                  [&demux](std::string_view chunk) { demux.feed(chunk); }};
    LTB_TRY(started, send(start));
    if (started.status != 200) {
      return fail(api_error(what, started));
    }

    // The stream ends as the process exits; its exit code can lag a moment behind.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (;;) {
      LTB_TRY(inspected, get("/exec/" + exec_id + "/json"));
      if (inspected.status != 200) {
        return fail(api_error(what, inspected));
      }
      LTB_TRY(state, parse_body(what, inspected));
      const bool running = state.value("Running", false);
      if (!running && state.contains("ExitCode") && state["ExitCode"].is_number_integer()) {
        return ExecOutput{state["ExitCode"].get<int>(), std::move(demux.out), std::move(demux.err)};
      }
      if (std::chrono::steady_clock::now() > deadline) {
        return fail(fmt::format("{}: its output ended but Docker reports no exit code", what),
                    "see the Docker daemon's log for details");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

private:
  std::string m_socket;
  std::string m_prefix; // "/v1.41" once negotiated
  Privileges m_privileges;
};

class DockerEvents final : public ContainerEvents {
public:
  explicit DockerEvents(std::unique_ptr<DockerClient> client) : m_client(std::move(client)) {}

  Status watch(const std::map<std::string, std::string> &labels, std::int64_t since_ns,
               const std::function<void(const ContainerEvent &)> &on_event,
               const std::atomic<bool> &stop) override {
    Request request;
    request.path = fmt::format("/events?since={}.{:09}&filters={}", since_ns / 1000000000,
                               since_ns % 1000000000, url_encode(event_filters(labels)));
    request.timeout_s = k_no_timeout;
    request.stop = &stop;
    LineSplitter lines;
    request.on_data = [&](std::string_view chunk) {
      for (const auto &line : lines.feed(chunk)) {
        if (auto event = parse_container_event(line)) {
          on_event(*event);
        }
      }
    };
    auto response = m_client->send(request);
    if (stop.load()) {
      return {};
    }
    if (!response) {
      return fail(response.error());
    }
    if (response->status != 200) {
      return fail(DockerClient::api_error("cannot follow Docker's events", *response));
    }
    return fail("Docker ended its event stream", "check that dockerd still runs (see its log)");
  }

private:
  std::unique_ptr<DockerClient> m_client;
};

Result<std::unique_ptr<DockerClient>> connect_client(const std::string &socket_path) {
  static std::once_flag curl_initialised;
  std::call_once(curl_initialised, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });

  auto client = std::make_unique<DockerClient>(socket_path);
  // _ping is not versioned: ask it before choosing a prefix.
  LTB_TRY(ping, client->get("/_ping", k_connect_timeout_s * 2));
  if (ping.status != 200) {
    return fail(
        fmt::format("cannot reach Docker at {}: /_ping answered HTTP {}", socket_path, ping.status),
        k_start_help);
  }
  client->set_api_version(negotiate_api_version(ping.api_version));
  return client;
}

} // namespace

Result<std::unique_ptr<ContainerEvents>> connect_docker_events(const std::string &socket_path) {
  LTB_TRY(client, connect_client(socket_path));
  return std::unique_ptr<ContainerEvents>(std::make_unique<DockerEvents>(std::move(client)));
}

Result<std::unique_ptr<ContainerRuntime>> connect_docker(const std::string &socket_path) {
  LTB_TRY(client, connect_client(socket_path));
  return std::unique_ptr<ContainerRuntime>(std::move(client));
}

} // namespace ltb::runtime
