// Each tool loads only the libcore libraries (and so the dependencies) it
// uses (libcore/CMakeLists.txt): the text tools never load OpenBLAS or
// OpenCV, whose loading alone costs a process ~3 MB and ~50 MB of memory.
#include <gtest/gtest.h>

#include "support/test_support.h"

using namespace qkv;

namespace {
std::string loaded_libraries(const std::string& tool) {
  auto r = test::run("ldd " + test::bin(tool));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}
bool has(const std::string& ldd, const std::string& lib) { return ldd.find(lib) != std::string::npos; }
}  // namespace

TEST(ToolLibraries, TextToolsLoadNeitherOpenBlasNorOpenCv) {
  for (std::string tool : {"qkv-tokenize", "qkv-inspect"}) {
    std::string ldd = loaded_libraries(tool);
    EXPECT_TRUE(has(ldd, "libqkvbase")) << tool << "\n" << ldd;
    EXPECT_FALSE(has(ldd, "libopenblas")) << tool << "\n" << ldd;
    EXPECT_FALSE(has(ldd, "libopencv")) << tool << "\n" << ldd;
    EXPECT_FALSE(has(ldd, "libqkvnn")) << tool << "\n" << ldd;
  }
}

TEST(ToolLibraries, ModelToolsLoadOpenBlasButNotOpenCv) {
  for (std::string tool : {"qkv-model", "qkv-attend"}) {
    std::string ldd = loaded_libraries(tool);
    EXPECT_TRUE(has(ldd, "libqkvnn")) << tool << "\n" << ldd;
    EXPECT_TRUE(has(ldd, "libopenblas")) << tool << "\n" << ldd;
    EXPECT_FALSE(has(ldd, "libopencv")) << tool << "\n" << ldd;
  }
}

TEST(ToolLibraries, ImageAndTrainingToolsLoadOpenCv) {
  EXPECT_TRUE(has(loaded_libraries("qkv-patchify"), "libqkvimage"));
  EXPECT_TRUE(has(loaded_libraries("qkv-train"), "libopencv"));  // --plot
}

TEST(ToolLibraries, ThreadsFlagWorksWithoutBlas) {
  auto r = test::run("qkv-inspect -v --threads 1 --version");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("OpenBLAS"), std::string::npos) << r.err;
}
