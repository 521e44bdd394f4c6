#include "cli/app.hpp"

int main(int argc, char **argv) { return ltb::cli::main(argc, argv); }
