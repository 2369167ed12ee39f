// Each tool loads only the libcore libraries (and so the dependencies) it
// uses (libcore/CMakeLists.txt): the text tools never load OpenBLAS or
// OpenCV, whose loading alone costs a process ~3 MB and ~50 MB of memory.
#include <gtest/gtest.h>

#include "support/test_support.h"

using namespace qkv;

namespace {
// ldd of a built tool, or of a libcore library ("libqkvbase.so").
std::string loaded_libraries(const std::string& tool) {
  bool lib = tool.compare(0, 3, "lib") == 0;
  auto r = test::run("ldd " + test::bin(lib ? "../libcore/" + tool : tool));
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
  for (std::string tool : {"qkv-model", "qkv-attend", "qkv-decode"}) {
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

// The format readers (libcore/formats) live in libqkvbase, so qkv-decode and
// qkv-attend read tokens and patches files without loading OpenCV; training
// reads patches without the image library.
TEST(ToolLibraries, FormatReadersNeedNoImageLibrary) {
  std::string base = loaded_libraries("libqkvbase.so");
  EXPECT_FALSE(has(base, "libopencv")) << base;
  EXPECT_FALSE(has(base, "libopenblas")) << base;
  std::string train = loaded_libraries("libqkvtrain.so");
  EXPECT_FALSE(has(train, "libqkvimage")) << train;
}

TEST(ToolLibraries, ThreadsFlagWorksWithoutBlas) {
  auto r = test::run("qkv-inspect -v --threads 1 --version");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("OpenBLAS"), std::string::npos) << r.err;
}
