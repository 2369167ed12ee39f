// qkv-inspect: print what is inside a qkv (or any HDF5) file.
#include <iostream>

#include "cli/tool.h"
#include "inspect/inspect.h"
#include "io/h5.h"

int main(int argc, char** argv) {
  qkv::cli::Tool tool("qkv-inspect", "Print the groups, datasets (shape, dtype, statistics), attributes and "
                                     "provenance chain of a qkv or any HDF5 file.");
  tool.examples(
      "qkv-inspect model.h5\n"
      "  qkv-inspect --head 10 tokens.h5\n"
      "  qkv-tokenize encode -t tok.h5 corpus.txt | qkv-inspect -\n"
      "  qkv-inspect --json model.h5 | python3 -m json.tool");
  std::string path;
  bool json = false, no_stats = false, all = false;
  int64_t head = 0;
  tool.app().add_option("file", path, "HDF5 file; - for stdin")->required();
  tool.app().add_flag("--json", json, "machine-readable JSON on stdout");
  tool.app().add_option("--head", head, "print the first N values of each dataset")->check(CLI::NonNegativeNumber);
  tool.app().add_flag("--no-stats", no_stats, "skip min/max/mean/std (faster on huge files)");
  tool.app().add_flag("--all", all, "also list the /provenance group in the tree");
  return tool.run(argc, argv, [&] {
    qkv::io::H5In in(path);
    qkv::inspect::Options opt;
    opt.head = head;
    opt.stats = !no_stats;
    opt.show_provenance_group = all;
    auto entries = qkv::inspect::walk(in, opt);
    if (json) qkv::inspect::print_json(in, entries, std::cout);
    else qkv::inspect::print_text(in, entries, std::cout);
  });
}
