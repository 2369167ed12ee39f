// The one command-line convention every qkv tool shares.
//
//   int main(int argc, char** argv) {
//     qkv::cli::Tool tool("qkv-inspect", "Print what is inside a qkv/HDF5 file.");
//     tool.examples("qkv-inspect model.h5\n  qkv-tokenize encode ... | qkv-inspect -");
//     std::string in;
//     tool.app().add_option("file", in, "HDF5 file, - for stdin")->required();
//     return tool.run(argc, argv, [&] { ... });
//   }
//
// Global flags in every tool (before or after a subcommand): --help (with the
// examples), --version, -v/--verbose (repeat for more), -q/--quiet,
// --threads N, --no-provenance. Logs go to stderr through spdlog; stdout
// carries data only. Exit codes: 0 success, 1 bad data (DataError or any
// other failure), 2 bad usage (UsageError, CLI11 parse errors).
#pragma once
#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace qkv::cli {

struct Globals {
  int verbose = 0;
  bool quiet = false;
  int threads = 0;  // 0 = all cores
  bool no_provenance = false;
};

class Tool {
 public:
  Tool(std::string name, std::string description);
  CLI::App& app() { return app_; }
  const Globals& globals() const { return globals_; }
  const std::string& name() const { return name_; }

  // Usage examples, shown at the end of --help.
  void examples(const std::string& text);

  // The tool has subcommands but also works without one (its main mode, e.g.
  // `qkv-patchify DIR` beside `qkv-patchify unpatchify FILE`).
  void subcommand_optional() { subcommand_optional_ = true; }

  // -o/--output on cmd (the main app or a subcommand), defaulting to "-".
  // When the command runs, an HDF5 output to a terminal is refused up front.
  CLI::Option* add_output(CLI::App& cmd, std::string& path,
                          const std::string& help = "output HDF5 file; - for stdout");

  // Parses, sets up logging/threads/provenance, picks the best BLAS kernels
  // when the tool loads OpenBLAS (may re-exec once, see blas/blas_setup.h and
  // core/threads.h), runs body, and maps failures
  // to one line on stderr and an exit code.
  int run(int argc, char** argv, const std::function<void()>& body);

 private:
  std::string name_;
  CLI::App app_;
  Globals globals_;
  std::vector<std::pair<CLI::App*, std::string*>> outputs_;
  bool subcommand_optional_ = false;
};

// text with control bytes (newline, ESC, ...) and bytes that are not well-formed UTF-8 shown as \xNN:
// safe to print on one line (valid UTF-8, e.g. a file name in Greek, stays as it is).
std::string printable(const std::string& text);

// The check of every output path option: io::check_writable when parsed,
// before any work (a usage error, exit 2, naming the option and the path).
CLI::Validator writable();

}  // namespace qkv::cli
