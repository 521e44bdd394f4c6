#include "cli/app.hpp"
#include "server/forkserver.hpp"

int main(int argc, char **argv) {
  // `ltb serve` keeps a pristine copy of itself to fork its requests' commands from: before
  // anything else runs (see server/forkserver).
  ltb::server::ForkServer::start_if_serving(argc, argv, &ltb::cli::main, &ltb::cli::warm_up);
  return ltb::cli::main(argc, argv);
}
