// Variable-length strings of outside files come from the probe's child.
//
// libhdf5 1.10.8 reads a variable-length string through a global heap ID
// stored beside it (collection address, object index) and trusts the index:
// H5HG_read indexes its object table with it unchecked. A corrupt index reads
// wherever it points, which crashes or not depending on what is mapped
// there: the probe's child (h5_probe.h) survived three such files that then
// killed the tool (25,000 mutants, session 11). No check short of parsing
// every attribute message reaches those IDs, so the tool's own process never
// reads them: the child, which reads every string the readers can ask for
// anyway, sends them to the parent, and while an H5In holds a file, its
// variable-length strings are answered from that table. Fixed-length strings
// live beside their object, not in the global heap, and are read as usual.
//
// Keys name what the strings belong to: "/src" for a dataset, "/src@vocab"
// for an attribute (the owner's path, as H5Iget_name gives it, then the
// attribute's name), the same in the child and in the parent.
#pragma once
#include <hdf5.h>

#include <map>
#include <string>
#include <vector>

namespace qkv::io::detail {

using StringTable = std::map<std::string, std::vector<std::string>>;

std::string string_key(hid_t obj, bool is_attr);

// While alive, vlen strings read from `file` are looked up in the table.
class ProbedStrings {
 public:
  ProbedStrings(hid_t file, StringTable table);
  ~ProbedStrings();
  ProbedStrings(const ProbedStrings&) = delete;
  ProbedStrings& operator=(const ProbedStrings&) = delete;

 private:
  hid_t file_;
};

// The table of obj's file, or nullptr when it has none (files qkv made in
// this process, or opened without a probe).
const StringTable* probed_strings(hid_t obj);

// In the probe's child: every vlen string read in-process is added to *table
// (nullptr: stop).
void record_strings(StringTable* table);
void recorded(hid_t obj, bool is_attr, const std::vector<std::string>& values);

// The table as bytes for the pipe, and back (false: malformed).
std::string serialize(const StringTable& table);
bool parse(const std::string& bytes, StringTable& table);

}  // namespace qkv::io::detail
