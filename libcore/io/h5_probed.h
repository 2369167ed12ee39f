// What the probe's child read of an outside file: its variable-length strings
// and all its attributes. The tool's own process answers from this, never
// from libhdf5's decoding of those bytes.
//
// Two libhdf5 1.10.8 over-reads survive a probe that only checks for crashes,
// because the child can survive a read that kills the parent (an over-read
// lands wherever memory happens to be mapped; 25,000 mutants, session 11):
// - a variable-length string is read through a global heap ID stored beside
//   it, and H5HG_read indexes its object table with that ID unchecked;
// - an attribute message is decoded whole whenever an attribute is looked up
//   by name (H5Aexists, H5Aopen: H5O__msg_iterate_real decodes every
//   attribute message of the object), and its data is copied at the size its
//   type and dataspace claim, unchecked against the message's size.
// No byte check short of parsing every object header reaches either, so the
// child, which reads every string and attribute the readers can ask for
// anyway, sends them through a pipe, and while an H5In holds a file its
// attribute lookups and variable-length string reads are answered from that
// table. Datasets' numbers and fixed-length strings are read as usual.
//
// Keys name what a value belongs to: "/src" for a dataset's strings,
// "/src@vocab" for an attribute (the owner's path as H5Iget_name gives it,
// then the attribute's name), the same in the child and in the parent.
#pragma once
#include <hdf5.h>

#include <map>
#include <string>
#include <vector>

#include "io/h5_attr.h"

namespace qkv::io::detail {

// One attribute as the child read it: its value, or the end of the error
// read_attr gave (the text after "WHERE attribute NAME").
struct ProbedAttr {
  bool ok = true;
  AttrValue value;
  std::string error;
};

struct ProbedFile {
  std::map<std::string, std::vector<std::string>> strings;     // dataset path -> vlen strings
  std::map<std::string, std::vector<std::string>> attr_names;  // object path -> its attributes, name order
  std::map<std::string, ProbedAttr> attrs;                     // "path@name" -> value
};

std::string object_key(hid_t obj);             // "/src"
std::string attr_key(hid_t obj, const std::string& name);  // "/src@vocab"

// While alive, `file`'s strings and attributes are answered from the table.
class ProbedRegistration {
 public:
  ProbedRegistration(hid_t file, ProbedFile table);
  ~ProbedRegistration();
  ProbedRegistration(const ProbedRegistration&) = delete;
  ProbedRegistration& operator=(const ProbedRegistration&) = delete;

 private:
  hid_t file_;
};

// The table of obj's file, or nullptr when it has none (files qkv made in
// this process, or opened when no child could be started).
const ProbedFile* probed(hid_t obj);

// In the probe's child: what is read in-process is added to *table (nullptr:
// stop recording). Returns the table being recorded into, or nullptr.
void record_into(ProbedFile* table);
ProbedFile* recording();

// The table as bytes for the pipe, and back (false: malformed).
std::string serialize(const ProbedFile& table);
bool parse(const std::string& bytes, ProbedFile& table);

}  // namespace qkv::io::detail
