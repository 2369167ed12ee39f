// io::H5In, the HDF5 reader behind every tool, fed an in-memory file image
// (H5LTopen_file_image, no temp file), then what qkv-inspect does with any
// HDF5 file: every group, dataset (read and summarized) and attribute, as
// text and JSON.
#include <sstream>

#include "fuzz_support.h"
#include "inspect/inspect.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  qkv::fuzz::run([&] {
    qkv::io::H5In in(qkv::fuzz::bytes_of(data, size), "fuzz.h5");
    (void)in.kind();
    qkv::inspect::Options opt;
    opt.head = 4;
    opt.show_provenance_group = true;
    auto entries = qkv::inspect::walk(in, opt);
    std::ostringstream text, json;
    qkv::inspect::print_text(in, entries, text);
    qkv::inspect::print_json(in, entries, json);
    // Every dataset as the typed readers see it.
    for (const auto& e : entries) {
      if (e.is_group || e.dtype.empty()) continue;
      try {
        if (e.dtype == "string") {
          (void)in.read_strings(e.path);
        } else {
          (void)in.read(e.path, qkv::DType::f32);
          if (!e.shape.empty() && e.shape[0] > 0) (void)in.read_rows(e.path, qkv::DType::i64, 0, 1);
        }
      } catch (const qkv::Error&) {
      }
    }
  });
  return 0;
}
