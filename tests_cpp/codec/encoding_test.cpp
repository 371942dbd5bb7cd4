#include "asap_native/codec/encoding.hpp"

#include <gtest/gtest.h>

#include "asap_native/codec/errors.hpp"

namespace asap_native::codec {
namespace {

TEST(EncodingTest, ParsesTokensIgnoringCaseAndSpace) {
    EXPECT_EQ(parse_encoding("gzip"), Encoding::Gzip);
    EXPECT_EQ(parse_encoding(" GZip\t"), Encoding::Gzip);
    EXPECT_EQ(parse_encoding("br"), Encoding::Brotli);
    EXPECT_EQ(parse_encoding("BR "), Encoding::Brotli);
    EXPECT_EQ(parse_encoding("identity"), Encoding::Identity);
    EXPECT_EQ(parse_encoding("Identity"), Encoding::Identity);
    EXPECT_EQ(parse_encoding(""), Encoding::Identity);
    EXPECT_EQ(parse_encoding("  "), Encoding::Identity);
    EXPECT_EQ(parse_encoding("\v\fgzip\r\n"), Encoding::Gzip);
}

TEST(EncodingTest, RejectsOtherCodingsWithTheirSpelling) {
    for (const char* name : {"deflate", "x-gzip", "gzip, br", "compress", "zstd", "gzi", "brr"}) {
        try {
            parse_encoding(name);
            ADD_FAILURE() << name << " was accepted";
        } catch (const UnsupportedEncoding& error) {
            EXPECT_EQ(error.encoding(), name);
            EXPECT_NE(std::string(error.what()).find(name), std::string::npos);
        }
    }
}

TEST(EncodingTest, UnsupportedEncodingIsAnInvalidArgument) {
    EXPECT_THROW(parse_encoding("zstd"), InvalidArgument);
}

TEST(EncodingTest, NamesAreHttpTokens) {
    EXPECT_STREQ(encoding_name(Encoding::Gzip), "gzip");
    EXPECT_STREQ(encoding_name(Encoding::Brotli), "br");
    EXPECT_STREQ(encoding_name(Encoding::Identity), "identity");
    for (Encoding e : {Encoding::Gzip, Encoding::Brotli, Encoding::Identity}) {
        EXPECT_EQ(parse_encoding(encoding_name(e)), e);
    }
}

}  // namespace
}  // namespace asap_native::codec
