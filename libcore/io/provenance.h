// Provenance: every file a qkv tool writes records how it was made, and carries
// forward the records of its inputs (like samtools' @PG lines).
//
// In the file: group /provenance, one subgroup per record named 0000, 0001, ...
// oldest first; each has string attributes tool, version, command_line,
// time_utc and string-array attributes inputs, input_sha256.
#pragma once
#include <hdf5.h>

#include <string>
#include <vector>

namespace qkv::io {

struct ProvenanceRecord {
  std::string tool, version, command_line, time_utc;
  std::vector<std::string> inputs, input_sha256;
  bool operator==(const ProvenanceRecord& o) const {
    return tool == o.tool && version == o.version && command_line == o.command_line && time_utc == o.time_utc &&
           inputs == o.inputs && input_sha256 == o.input_sha256;
  }
};

namespace provenance {

// Called once by the CLI layer: names this run. Without it, outputs carry
// only their inputs' records and a record for tool "libcore".
void begin_run(const std::string& tool, int argc, char** argv);
void set_enabled(bool on);  // --no-provenance turns it off: outputs then carry none
bool enabled();

// Every input the run reads: its path, digest and (for qkv files) its records.
// H5In calls it itself; tools call it for text and image inputs.
void note_input(const std::string& path, const std::string& sha256,
                const std::vector<ProvenanceRecord>& records = {});

// The records an output of this run carries: its inputs' (deduplicated, in
// the order first seen), then this run's own.
std::vector<ProvenanceRecord> for_output();

void write(hid_t file, const std::vector<ProvenanceRecord>& records);
std::vector<ProvenanceRecord> read(hid_t file);  // empty when the file has none

void reset_for_tests();

}  // namespace provenance
}  // namespace qkv::io
