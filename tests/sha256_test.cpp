// SHA-256 against the FIPS 180-4 / NIST example vectors and sha256sum.
#include <gtest/gtest.h>

#include <string>

#include "io/sha256.h"
#include "support/test_support.h"

using qkv::io::sha256_hex;

TEST(Sha256, NistVectors) {
  EXPECT_EQ(sha256_hex("", 0), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::string m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  EXPECT_EQ(sha256_hex(m.data(), m.size()), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  std::string million(1000000, 'a');
  EXPECT_EQ(sha256_hex(million.data(), million.size()),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, StreamingEqualsOneShotAcrossBlockBoundaries) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data += static_cast<char>(i * 7);
  for (size_t split : {0, 1, 55, 56, 63, 64, 65, 999}) {
    qkv::io::Sha256 s;
    s.update(data.data(), split);
    s.update(data.data() + split, data.size() - split);
    EXPECT_EQ(s.hex(), sha256_hex(data.data(), data.size())) << split;
  }
}

TEST(Sha256, FileDigestMatchesSha256sum) {
  qkv::test::TempDir d;
  qkv::test::write_file(d.file("x"), "qkv provenance\n");
  auto r = qkv::test::run("sha256sum " + d.file("x"));
  ASSERT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.substr(0, 64), qkv::io::sha256_file(d.file("x")));
}
