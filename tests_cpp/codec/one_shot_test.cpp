#include "asap_native/codec/one_shot.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "asap_native/codec/errors.hpp"
#include "codec_test_support.hpp"

namespace asap_native::codec {
namespace {

using testing::brotli_decode;
using testing::brotli_encode;
using testing::gzip_member;
using testing::json_body;
using testing::random_bytes;
using testing::zlib_gunzip;

const Encoding kAll[] = {Encoding::Gzip, Encoding::Brotli, Encoding::Identity};

std::vector<std::string> sample_bodies() {
    return {"",
            "x",
            json_body(100),
            json_body(64 * 1024 + 1),
            json_body(1 << 20, 3),
            random_bytes(70000),
            std::string(300000, '\0')};
}

TEST(OneShotTest, RoundTripsEveryEncodingAndSize) {
    for (Encoding encoding : kAll) {
        for (const std::string& body : sample_bodies()) {
            SCOPED_TRACE(std::string(encoding_name(encoding)) + " size " +
                         std::to_string(body.size()));
            std::string packed = compress(body, encoding);
            EXPECT_EQ(decompress(packed, encoding), body);
        }
    }
}

TEST(OneShotTest, GzipOutputIsReadByZlibItself) {
    for (const std::string& body : sample_bodies()) {
        std::string packed = compress(body, Encoding::Gzip);
        ASSERT_GE(packed.size(), 18U);
        EXPECT_EQ(static_cast<unsigned char>(packed[0]), 0x1f);
        EXPECT_EQ(static_cast<unsigned char>(packed[1]), 0x8b);
        EXPECT_EQ(zlib_gunzip(packed), body);
    }
}

TEST(OneShotTest, BrotliOutputIsReadByLibbrotliItself) {
    for (const std::string& body : sample_bodies()) {
        EXPECT_EQ(brotli_decode(compress(body, Encoding::Brotli), body.size()), body);
    }
}

TEST(OneShotTest, DecodesWhatTheLibrariesProduce) {
    std::string body = json_body(5000);
    EXPECT_EQ(decompress(gzip_member(body), Encoding::Gzip), body);
    EXPECT_EQ(decompress(brotli_encode(body, 11, 24), Encoding::Brotli), body);
    EXPECT_EQ(decompress(brotli_encode(body, 0, 10), Encoding::Brotli), body);
}

TEST(OneShotTest, EveryLevelRoundTripsAndDefaultsMatchAsap) {
    std::string body = json_body(20000);
    for (int level = 0; level <= 9; ++level) {
        EXPECT_EQ(decompress(compress(body, Encoding::Gzip, level), Encoding::Gzip), body);
    }
    for (int quality = 0; quality <= 11; ++quality) {
        EXPECT_EQ(decompress(compress(body, Encoding::Brotli, quality), Encoding::Brotli), body);
    }
    EXPECT_EQ(compress(body, Encoding::Gzip), compress(body, Encoding::Gzip, 6));
    EXPECT_EQ(compress(body, Encoding::Brotli), compress(body, Encoding::Brotli, 4));
    EXPECT_EQ(compress(body, Encoding::Brotli), brotli_encode(body, 4, 22));
    EXPECT_LT(compress(body, Encoding::Gzip, 9).size(), compress(body, Encoding::Gzip, 0).size());
}

TEST(OneShotTest, RejectsLevelsOutOfRange) {
    EXPECT_THROW(compress("x", Encoding::Gzip, 10), InvalidArgument);
    EXPECT_THROW(compress("x", Encoding::Gzip, -2), InvalidArgument);
    EXPECT_THROW(compress("x", Encoding::Brotli, 12), InvalidArgument);
    EXPECT_THROW(compress("x", Encoding::Brotli, -5), InvalidArgument);
    EXPECT_EQ(compress("xyz", Encoding::Identity, 99), "xyz");
}

TEST(OneShotTest, CompressIntoRefusesASmallBuffer) {
    std::string out(4, '\0');
    EXPECT_THROW(compress_into(reinterpret_cast<const std::uint8_t*>("abcdef"), 6, Encoding::Gzip,
                               6, reinterpret_cast<std::uint8_t*>(out.data()), out.size()),
                 InvalidArgument);
}

TEST(OneShotTest, EmptyInputIsEmptyForGzipAndIdentityButTruncatedBrotli) {
    // As Python: gzip.decompress(b"") == b"", brotli.decompress(b"") raises.
    EXPECT_EQ(decompress("", Encoding::Gzip), "");
    EXPECT_EQ(decompress("", Encoding::Identity), "");
    EXPECT_THROW(decompress("", Encoding::Brotli), TruncatedData);
}

TEST(OneShotTest, ConcatenatedGzipMembersWithZeroPadding) {
    std::string a = json_body(3000, 1);
    std::string b = json_body(5000, 2);
    std::string ma = gzip_member(a);
    std::string mb = gzip_member(b);
    EXPECT_EQ(decompress(ma + mb, Encoding::Gzip), a + b);
    EXPECT_EQ(decompress(ma + mb + ma, Encoding::Gzip), a + b + a);
    std::string zeros(7, '\0');
    EXPECT_EQ(decompress(ma + zeros + mb + zeros, Encoding::Gzip), a + b);
    EXPECT_EQ(decompress(gzip_member("") + gzip_member(""), Encoding::Gzip), "");
    EXPECT_EQ(decompress(compress(a, Encoding::Gzip) + compress(b, Encoding::Gzip), Encoding::Gzip),
              a + b);
}

TEST(OneShotTest, GzipHeaderFieldsAreSkipped) {
    std::string body = json_body(2000);
    testing::GzipHeaderOptions options;
    options.extra = "AB\x04\x00wxyz";
    options.name = "body.json";
    options.comment = "a comment";
    options.header_crc = true;
    EXPECT_EQ(decompress(gzip_member(body, options), Encoding::Gzip), body);
}

TEST(OneShotTest, RejectsBadMagicAsCorrupt) {
    std::string member = gzip_member("hello");
    for (std::string bad : {std::string("\x1f\x8c") + member.substr(2), "xx" + member,
                            std::string("\0\0", 2) + member, std::string("not gzip at all")}) {
        EXPECT_THROW(decompress(bad, Encoding::Gzip), CorruptData);
        try {
            decompress(bad, Encoding::Gzip);
        } catch (const TruncatedData&) {
            ADD_FAILURE() << "bad magic reported as truncation";
        } catch (const CorruptData&) {
        }
    }
}

TEST(OneShotTest, RejectsUnknownMethodAndCorruptDeflate) {
    std::string member = gzip_member(json_body(1000));
    std::string method = member;
    method[2] = 7;
    EXPECT_THROW(decompress(method, Encoding::Gzip), CorruptData);
    std::string block = member;
    block[10] = static_cast<char>(0xff);  // first deflate byte: reserved block type 3
    EXPECT_THROW(decompress(block, Encoding::Gzip), CorruptData);
}

TEST(OneShotTest, RejectsCrcAndLengthMismatch) {
    std::string body = json_body(1000);
    std::string member = gzip_member(body);
    std::string crc = member;
    crc[crc.size() - 8] ^= 1;
    EXPECT_THROW(decompress(crc, Encoding::Gzip), CorruptData);
    std::string length = member;
    length[length.size() - 4] ^= 1;
    EXPECT_THROW(decompress(length, Encoding::Gzip), CorruptData);
    // A flipped bit in the middle of the data is caught one way or the other.
    for (std::size_t i = 10; i < member.size(); i += 7) {
        std::string flipped = member;
        flipped[i] ^= 0x10;
        std::string out;
        try {
            out = decompress(flipped, Encoding::Gzip);
        } catch (const CorruptData&) {
            continue;
        }
        ADD_FAILURE() << "bit flip at " << i << " went unnoticed";
    }
}

TEST(OneShotTest, RejectsTrailingGarbage) {
    std::string gz = gzip_member("hello");
    EXPECT_THROW(decompress(gz + "x", Encoding::Gzip), CorruptData);
    EXPECT_THROW(decompress(gz + std::string("\0\0x", 3), Encoding::Gzip), CorruptData);
    EXPECT_THROW(decompress(gz + "\x1f", Encoding::Gzip), TruncatedData);
    std::string br = brotli_encode("hello");
    EXPECT_THROW(decompress(br + "x", Encoding::Brotli), CorruptData);
    EXPECT_THROW(decompress(br + std::string(1, '\0'), Encoding::Brotli), CorruptData);
}

TEST(OneShotTest, EveryTruncationIsReportedAsTruncated) {
    std::string body = json_body(600);
    for (Encoding encoding : {Encoding::Gzip, Encoding::Brotli}) {
        std::string packed = compress(body, encoding);
        for (std::size_t cut = 1; cut < packed.size(); ++cut) {
            SCOPED_TRACE(std::string(encoding_name(encoding)) + " cut at " + std::to_string(cut));
            EXPECT_THROW(decompress(packed.substr(0, cut), encoding), TruncatedData);
        }
    }
    std::string two = gzip_member("abc") + gzip_member("def");
    EXPECT_THROW(decompress(two.substr(0, two.size() - 3), Encoding::Gzip), TruncatedData);
}

TEST(OneShotTest, CorruptBrotliIsRejected) {
    std::string packed = brotli_encode(json_body(4000));
    int caught = 0;
    for (std::size_t i = 0; i < packed.size(); ++i) {
        std::string flipped = packed;
        flipped[i] ^= 0x5a;
        try {
            std::string out = decompress(flipped, Encoding::Brotli);
        } catch (const CorruptData&) {
            ++caught;
        }
    }
    // Brotli has no checksum, so a flip may decode to other bytes; most must not.
    EXPECT_GT(caught, static_cast<int>(packed.size() / 2));
    EXPECT_THROW(decompress("\xff\xff\xff\xff", Encoding::Brotli), CorruptData);
}

TEST(OneShotTest, LimitExactlyAtBelowAndAbove) {
    std::string body = json_body(10000);
    for (Encoding encoding : kAll) {
        SCOPED_TRACE(encoding_name(encoding));
        std::string packed = compress(body, encoding);
        EXPECT_EQ(decompress(packed, encoding, body.size()), body);
        EXPECT_EQ(decompress(packed, encoding, body.size() + 1), body);
        try {
            decompress(packed, encoding, body.size() - 1);
            ADD_FAILURE() << "limit not enforced";
        } catch (const DecompressionLimitExceeded& error) {
            EXPECT_EQ(error.limit(), body.size() - 1);
        }
        EXPECT_THROW(decompress(packed, encoding, 0), DecompressionLimitExceeded);
        EXPECT_EQ(decompress(compress("", encoding), encoding, 0), "");
    }
}

TEST(OneShotTest, LimitHoldsAgainstALyingGzipLengthField) {
    std::string body = json_body(10000);
    std::string member = gzip_member(body);
    for (std::uint32_t lie : {0U, 1U, 9999U, 0xffffffffU}) {
        std::string liar = member;
        for (int i = 0; i < 4; ++i) liar[liar.size() - 4 + i] = static_cast<char>(lie >> (8 * i));
        EXPECT_THROW(decompress(liar, Encoding::Gzip, 20000), CorruptData);
        EXPECT_THROW(decompress(liar, Encoding::Gzip, 100), DecompressionLimitExceeded);
    }
}

TEST(OneShotTest, SizeHint) {
    std::string body = json_body(12345);
    std::string gz = compress(body, Encoding::Gzip);
    const auto* p = reinterpret_cast<const std::uint8_t*>(gz.data());
    EXPECT_EQ(decompressed_size_hint(p, gz.size(), Encoding::Gzip), body.size());
    EXPECT_EQ(decompressed_size_hint(p, 5, Encoding::Gzip), 0U);
    EXPECT_EQ(decompressed_size_hint(p, gz.size(), Encoding::Brotli), 0U);
    EXPECT_EQ(decompressed_size_hint(p, gz.size(), Encoding::Identity), gz.size());
}

TEST(OneShotTest, BombsStopAtTheLimit) {
    const std::size_t limit = 10 << 20;
    const std::string& gzip_bomb = testing::gzip_gib_bomb();
    EXPECT_LT(gzip_bomb.size(), 8U << 20);
    EXPECT_THROW(decompress(gzip_bomb, Encoding::Gzip, limit), DecompressionLimitExceeded);
    const std::string& brotli_bomb = testing::brotli_gib_bomb();
    EXPECT_LT(brotli_bomb.size(), 1U << 20);
    EXPECT_THROW(decompress(brotli_bomb, Encoding::Brotli, limit), DecompressionLimitExceeded);
}

}  // namespace
}  // namespace asap_native::codec
