// Linked to ONE libcore library target and nothing else (tests/CMakeLists.txt):
// the link fails when that library calls into a library it does not declare,
// and run with LD_BIND_NOW=1 it fails to start when a symbol is missing.
#include <cstdio>

int main() {
  std::printf("%s links alone\n", QKV_LINK_ALONE);
  return 0;
}
