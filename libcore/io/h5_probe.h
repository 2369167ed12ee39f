// The one defence against HDF5 files crafted or damaged to crash libhdf5.
//
// Debian 12's libhdf5 1.10.8 crashes (SIGSEGV in H5HG_read, H5A__close,
// H5O__msg_iterate_real), loops forever or allocates gigabytes on some
// malformed files: most often through variable-length strings (qkv_format,
// /provenance, tokenizer pieces), whose lengths and global-heap entries it
// trusts. No in-process check reaches those internals, so before a tool's own
// process touches an outside file, H5In has a forked child walk everything
// the readers will: every object and attribute, every string, the data of
// small files, the chunk index of large ones. The child runs with an alarm
// and a memory cap; its crash, hang or failed allocation becomes the usual
// one-line DataError in the parent, which has touched nothing yet.
#pragma once
#include <cstdint>
#include <string>
#include <vector>
#include <optional>

#include "io/h5_probed.h"

namespace qkv::io {

// Throws DataError("NAME: corrupt HDF5 file: ...") when walking the file image
// crashes, hangs or needs more memory than a file of its size can justify.
// Returns the strings and attributes the walk read (h5_probed.h: the parent
// answers from them instead of libhdf5), or nothing when no
// child could be started (the file is then read as before). Ordinary errors
// are left to the real readers.
std::optional<detail::ProbedFile> probe_hdf5_image(const std::vector<uint8_t>& bytes, const std::string& name);

// The walk itself, in this process (for the fuzz targets and the child).
// Returns false when libhdf5 failed to allocate (a header claiming absurd sizes).
bool walk_hdf5_image(const std::vector<uint8_t>& bytes);

}  // namespace qkv::io
