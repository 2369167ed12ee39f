// HDF5 attributes and small helpers shared by io/h5.cpp, io/provenance.cpp
// and libcore/inspect. Callers outside libcore/io use H5In/H5Out instead.
#pragma once
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace qkv::io {

// An attribute's value: integer and float scalars or 1-D arrays, UTF-8 strings.
using AttrValue = std::variant<int64_t, double, std::string, std::vector<int64_t>, std::vector<double>,
                               std::vector<std::string>>;

std::string attr_value_str(const AttrValue& v);  // for messages and qkv-inspect

namespace detail {

// Owns one HDF5 identifier and closes it with the right H5?close.
class Hid {
 public:
  Hid() = default;
  explicit Hid(hid_t id) : id_(id) {}
  ~Hid() { reset(); }
  Hid(Hid&& o) noexcept : id_(o.id_) { o.id_ = -1; }
  Hid& operator=(Hid&& o) noexcept {
    if (this != &o) { reset(); id_ = o.id_; o.id_ = -1; }
    return *this;
  }
  Hid(const Hid&) = delete;
  Hid& operator=(const Hid&) = delete;
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset();

 private:
  hid_t id_ = -1;
};

hid_t utf8_vlen_string_type();  // caller closes
std::vector<std::string> child_names(hid_t group);  // link names, sorted
std::string type_name(hid_t type);  // "float32", "uint8", "string", "enum", ...
hid_t object_create_plist(hid_t cls);  // H5P_GROUP_CREATE / H5P_DATASET_CREATE, timestamps off

// Why libhdf5 cannot be trusted to convert this integer or float type (its
// size, precision, offset or fields are inconsistent: libhdf5 1.10.8's
// conversions overrun a stack buffer on such a type), or "" when it can.
std::string number_type_problem(hid_t type);

void write_attr(hid_t obj, const std::string& name, const AttrValue& value);
// where: "FILE: /object" for messages. For an outside file, these three
// answer from what the probe's child read (h5_probed.h).
AttrValue read_attr(hid_t obj, const std::string& name, const std::string& where);
std::vector<std::string> attr_names(hid_t obj, const std::string& where);  // name order
bool attr_exists(hid_t obj, const std::string& name, const std::string& where);
// Reads n strings of a string-typed dataset or attribute (vlen or fixed).
std::vector<std::string> read_string_values(hid_t obj, hid_t type, hid_t space, bool is_attr,
                                            const std::string& where);

}  // namespace detail
}  // namespace qkv::io
