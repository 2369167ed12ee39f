#include "cli/tool.h"

#include <spdlog/sinks/sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <new>

#include "core/error.h"
#include "core/progress.h"
#include "core/ranks.h"
#include "core/threads.h"
#include "io/file_io.h"
#include "io/provenance.h"

namespace qkv::cli {
namespace {

// The colour stderr sink, clearing a drawn progress bar (core/progress.h)
// before each message, so a log line never lands after the bar.
class BarAwareSink : public spdlog::sinks::sink {
 public:
  BarAwareSink() : inner_(std::make_shared<spdlog::sinks::stderr_color_sink_st>()) {}
  void log(const spdlog::details::log_msg& msg) override {
    clear_progress_line();
    inner_->log(msg);
  }
  void flush() override { inner_->flush(); }
  void set_pattern(const std::string& pattern) override { inner_->set_pattern(pattern); }
  void set_formatter(std::unique_ptr<spdlog::formatter> f) override { inner_->set_formatter(std::move(f)); }

 private:
  std::shared_ptr<spdlog::sinks::sink> inner_;
};

void setup_logging(const std::string& name, const Globals& g) {
  auto logger = std::make_shared<spdlog::logger>(name, std::make_shared<BarAwareSink>());
  logger->set_pattern("%n: %^%l%$: %v");
  spdlog::level::level_enum lvl = spdlog::level::info;
  if (g.quiet) lvl = spdlog::level::err;
  else if (g.verbose == 1) lvl = spdlog::level::debug;
  else if (g.verbose >= 2) lvl = spdlog::level::trace;
  logger->set_level(lvl);
  spdlog::set_default_logger(logger);
}

}  // namespace

std::string printable(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  auto escape = [&](unsigned char c) {
    char esc[5];
    std::snprintf(esc, sizeof esc, "\\x%02x", c);
    out += esc;
  };
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  for (size_t i = 0, n = text.size(); i < n;) {
    const unsigned char c = s[i];
    if (c < 0x80) {
      if (c >= 0x20 && c != 0x7f) out.push_back(static_cast<char>(c));
      else escape(c);
      ++i;
      continue;
    }
    // A well-formed UTF-8 sequence (RFC 3629: no overlong forms, no surrogates, <= U+10FFFF) is kept;
    // any other byte is escaped on its own.
    const size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    bool ok = len > 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; ++k) ok = (s[i + k] & 0xC0) == 0x80;
    if (ok && len >= 3) {
      const unsigned char d = s[i + 1];
      ok = !(c == 0xE0 && d < 0xA0) && !(c == 0xED && d > 0x9F) && !(c == 0xF0 && d < 0x90) && !(c == 0xF4 && d > 0x8F);
    }
    if (!ok) {
      escape(c);
      ++i;
      continue;
    }
    out.append(text, i, len);
    i += len;
  }
  return out;
}

namespace {

// One line on stderr, whatever the message holds: a message may quote bytes from
// a file (a name, an attribute), and those must not forge colours or lines.
void print_error(const std::string& name, const std::string& msg) {
  clear_progress_line();
  std::fprintf(stderr, "%s: error: %s\n", name.c_str(), printable(msg).c_str());
}

// A failure while the body runs: one line and the exit code; in a job of
// several ranks, the rank hooks print it once and end every rank.
int fail(const std::string& name, const std::string& msg, int code) {
  if (const RankHooks* ranks = rank_hooks()) {
    clear_progress_line();
    ranks->fail(name + ": error: " + printable(msg), code);
  }
  print_error(name, msg);
  return code;
}

}  // namespace

Tool::Tool(std::string name, std::string description) : name_(std::move(name)), app_(std::move(description), name_) {
  app_.set_version_flag("--version", std::string(name_) + " (qkv) " + QKV_VERSION);
  app_.add_flag("-v,--verbose", globals_.verbose, "more log detail on stderr (repeat: -vv)");
  app_.add_flag("-q,--quiet", globals_.quiet, "errors only on stderr");
  app_.add_option("--threads", globals_.threads, "threads for BLAS and qkv's own loops (0 = all cores)")
      ->check(CLI::Range(0, kMaxThreads));
  app_.add_flag("--no-provenance", globals_.no_provenance,
                "write no /provenance record (outputs become byte-identical run to run)");
  app_.fallthrough();
  app_.require_subcommand(0, 1);
}

void Tool::examples(const std::string& text) { app_.footer("Examples:\n  " + text); }

CLI::Validator writable() {
  return CLI::Validator(
      [](std::string& path) -> std::string {
        try {
          io::check_writable(path);
        } catch (const std::exception& e) {
          return e.what();
        }
        return "";
      },
      "");
}

CLI::Option* Tool::add_output(CLI::App& cmd, std::string& path, const std::string& help) {
  path = "-";
  outputs_.emplace_back(&cmd, &path);
  return cmd.add_option("-o,--output", path, help)->capture_default_str()->check(writable());
}

int Tool::run(int argc, char** argv, const std::function<void()>& body) {
  // A closed pipe on stdout (`| head`) is an error like any other write error:
  // one line, exit 1 and temporary files removed, not a silent death by SIGPIPE
  // that leaves them behind.
  std::signal(SIGPIPE, SIG_IGN);
  if (const BlasHooks* blas = blas_hooks()) blas->ensure_best_kernels(argc, argv);
  for (CLI::App* sub : app_.get_subcommands([](CLI::App*) { return true; })) sub->fallthrough();
  try {
    app_.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app_.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app_.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app_.exit(e);
  } catch (const CLI::ParseError& e) {
    // CLI11's message may span lines; one line, and the pointer to --help on it.
    std::string msg = e.what();
    for (char& c : msg)
      if (c == '\n') c = ' ';
    while (!msg.empty() && msg.back() == ' ') msg.pop_back();
    print_error(name_, msg + " (run with --help for more information)");
    return kExitUsage;
  }
  if (subcommand_optional_ || !app_.get_subcommands().empty() ||
      app_.get_subcommands([](CLI::App*) { return true; }).empty()) {
    // ok: a subcommand was given, or the tool has none
  } else {
    print_error(name_, "a subcommand is required");
    std::fprintf(stderr, "%s", app_.help().c_str());
    return kExitUsage;
  }
  setup_logging(name_, globals_);
  io::provenance::begin_run(name_, argc, argv);
  io::provenance::set_enabled(!globals_.no_provenance);
  try {
    set_threads(globals_.threads);
    if (const BlasHooks* blas = blas_hooks()) spdlog::debug("{}", blas->describe());
    else spdlog::debug("{} threads (no BLAS loaded)", threads());
    for (auto& [cmd, path] : outputs_)
      if (cmd == &app_ || cmd->parsed()) io::refuse_binary_to_terminal(*path);
    body();
    std::fflush(stdout);
    if (std::ferror(stdout)) throw DataError("stdout: write failed");
    return kExitOk;
  } catch (const Error& e) {
    return fail(name_, e.what(), e.exit_code());
  } catch (const CLI::ParseError& e) {  // tools may validate late with CLI11's errors
    return fail(name_, e.what(), kExitUsage);
  } catch (const std::bad_alloc&) {
    return fail(name_, "out of memory", kExitData);
  } catch (const std::exception& e) {
    return fail(name_, e.what(), kExitData);
  }
}

}  // namespace qkv::cli
