// qkv-inspect's logic: a walk over any HDF5 file (qkv's or h5py's) giving each
// group and dataset with shape, dtype, statistics, leading values and
// attributes, plus the provenance chain. Text for people, JSON for scripts.
#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "io/h5.h"

namespace qkv::inspect {

struct Stats {
  int64_t count = 0;  // finite values
  double min = 0, max = 0, mean = 0, std = 0;
  int64_t nan = 0, inf = 0;
};

struct Entry {
  std::string path;     // "/params/wte.weight"
  bool is_group = false;
  std::string dtype;    // "float32", "int64", "string", ... ("" for groups)
  Shape shape;
  bool has_stats = false;
  Stats stats;
  std::vector<std::string> head;  // leading values, formatted
  struct Attr {
    std::string name;
    bool supported = true;  // false: a type qkv does not read (compound, enum, ...)
    io::AttrValue value;
  };
  std::vector<Attr> attrs;
};

struct Options {
  int64_t head = 0;        // leading values per dataset
  bool stats = true;
  bool show_provenance_group = false;  // list /provenance in the tree too
};

std::vector<Entry> walk(const io::H5In& in, const Options& opt);
void print_text(const io::H5In& in, const std::vector<Entry>& entries, std::ostream& os);
void print_json(const io::H5In& in, const std::vector<Entry>& entries, std::ostream& os);

std::string json_escape(const std::string& s);
std::string attr_json(const io::AttrValue& v);  // a JSON value

}  // namespace qkv::inspect
