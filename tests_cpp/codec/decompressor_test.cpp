#include "asap_native/codec/decompressor.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "asap_native/codec/errors.hpp"
#include "asap_native/codec/one_shot.hpp"
#include "asap_native/errors.hpp"
#include "codec_test_support.hpp"

namespace asap_native::codec {
namespace {

using testing::brotli_encode;
using testing::gzip_member;
using testing::json_body;

struct Case {
    const char* name;
    Encoding encoding;
    std::string packed;
    std::string plain;
};

std::vector<Case> small_cases() {
    std::string a = json_body(150, 1);
    std::string b = json_body(90, 2);
    return {
        {"gzip", Encoding::Gzip, gzip_member(a), a},
        {"gzip-members-padded", Encoding::Gzip,
         gzip_member(a) + std::string(3, '\0') + gzip_member(b) + std::string(2, '\0'), a + b},
        {"brotli", Encoding::Brotli, brotli_encode(a), a},
        {"identity", Encoding::Identity, a, a},
    };
}

// Feeds `packed` split at the given offsets and returns everything decoded.
std::string decode_split(Encoding encoding, const std::string& packed,
                         const std::vector<std::size_t>& cuts, std::size_t limit) {
    Decompressor decompressor(encoding, limit);
    std::string out;
    std::size_t from = 0;
    for (std::size_t cut : cuts) {
        decompressor.feed(std::string_view(packed).substr(from, cut - from), out);
        from = cut;
    }
    decompressor.feed(std::string_view(packed).substr(from), out);
    decompressor.finish();
    EXPECT_EQ(decompressor.total_in(), packed.size());
    EXPECT_EQ(decompressor.total_out(), out.size());
    return out;
}

TEST(DecompressorTest, EverySplitPointGivesTheSameOutput) {
    for (const Case& c : small_cases()) {
        SCOPED_TRACE(c.name);
        for (std::size_t i = 0; i <= c.packed.size(); ++i) {
            ASSERT_EQ(decode_split(c.encoding, c.packed, {i}, Decompressor::kNoLimit), c.plain)
                << "split at " << i;
        }
    }
}

TEST(DecompressorTest, EveryPairOfSplitPointsGivesTheSameOutput) {
    for (const Case& c : small_cases()) {
        SCOPED_TRACE(c.name);
        for (std::size_t i = 0; i <= c.packed.size(); i += 3) {
            for (std::size_t j = i; j <= c.packed.size(); ++j) {
                ASSERT_EQ(decode_split(c.encoding, c.packed, {i, j}, c.plain.size()), c.plain)
                    << "splits at " << i << ", " << j;
            }
        }
    }
}

TEST(DecompressorTest, ByteAtATimeInputAndOutput) {
    for (const Case& c : small_cases()) {
        SCOPED_TRACE(c.name);
        Decompressor decompressor(c.encoding);
        std::string out;
        std::uint8_t byte = 0;
        for (char in : c.packed) {
            const auto* p = reinterpret_cast<const std::uint8_t*>(&in);
            std::size_t consumed = 0;
            // A one-byte output buffer forces the decoder to hold output back between calls.
            for (;;) {
                auto progress = decompressor.decode_some(p + consumed, 1 - consumed, &byte, 1);
                consumed += progress.consumed;
                if (progress.produced == 1) out += static_cast<char>(byte);
                if (consumed == 1 && progress.produced == 0) break;
            }
        }
        decompressor.finish();
        EXPECT_EQ(out, c.plain);
    }
}

TEST(DecompressorTest, AppendsAfterWhatTheStringHolds) {
    Decompressor decompressor(Encoding::Gzip);
    std::string out = "prefix:";
    decompressor.feed(compress("body", Encoding::Gzip), out);
    decompressor.finish();
    EXPECT_EQ(out, "prefix:body");
}

TEST(DecompressorTest, EmptyFeedsAreHarmless) {
    std::string plain = json_body(500);
    for (Encoding encoding : {Encoding::Gzip, Encoding::Brotli, Encoding::Identity}) {
        std::string packed = compress(plain, encoding);
        Decompressor decompressor(encoding);
        EXPECT_EQ(decompressor.feed(""), "");
        std::string out = decompressor.feed(packed);
        EXPECT_EQ(decompressor.feed(""), "");
        decompressor.finish();
        EXPECT_TRUE(decompressor.finished());
        EXPECT_EQ(out, plain);
    }
}

TEST(DecompressorTest, FinishReportsTruncationAtEveryCut) {
    std::string first = gzip_member(json_body(300));
    std::string packed = first + gzip_member("tail");
    for (std::size_t cut = 1; cut < packed.size(); ++cut) {
        Decompressor decompressor(Encoding::Gzip);
        decompressor.feed(std::string_view(packed).substr(0, cut));
        if (cut == first.size()) {
            decompressor.finish();  // a whole first member is a complete stream
        } else {
            EXPECT_THROW(decompressor.finish(), TruncatedData) << "cut at " << cut;
        }
    }
}

TEST(DecompressorTest, TrailingGarbageInALaterChunk) {
    std::string packed = brotli_encode("hello");
    Decompressor br(Encoding::Brotli);
    EXPECT_EQ(br.feed(packed), "hello");
    EXPECT_THROW(br.feed("x"), CorruptData);

    Decompressor gz(Encoding::Gzip);
    EXPECT_EQ(gz.feed(gzip_member("hello")), "hello");
    EXPECT_EQ(gz.feed(std::string(4, '\0')), "");
    EXPECT_THROW(gz.feed("garbage"), CorruptData);
}

TEST(DecompressorTest, FailureIsSticky) {
    Decompressor decompressor(Encoding::Gzip);
    EXPECT_THROW(decompressor.feed("not gzip"), CorruptData);
    EXPECT_THROW(decompressor.feed(gzip_member("ok")), CorruptData);
    EXPECT_THROW(decompressor.finish(), CorruptData);

    Decompressor limited(Encoding::Identity, 3);
    EXPECT_THROW(limited.feed("abcd"), DecompressionLimitExceeded);
    EXPECT_THROW(limited.feed(""), DecompressionLimitExceeded);
    EXPECT_THROW(limited.finish(), DecompressionLimitExceeded);
}

TEST(DecompressorTest, UseAfterFinishIsAnInvalidArgument) {
    Decompressor decompressor(Encoding::Gzip);
    decompressor.feed(gzip_member("x"));
    decompressor.finish();
    EXPECT_THROW(decompressor.feed("more"), InvalidArgument);
    EXPECT_THROW(decompressor.finish(), InvalidArgument);
}

TEST(DecompressorTest, LimitAcrossChunksExactlyAtBelowAndAbove) {
    std::string plain = json_body(50000);
    for (Encoding encoding : {Encoding::Gzip, Encoding::Brotli, Encoding::Identity}) {
        SCOPED_TRACE(encoding_name(encoding));
        std::string packed = compress(plain, encoding);
        std::vector<std::size_t> cuts;
        for (std::size_t at = 97; at < packed.size(); at += 97) cuts.push_back(at);
        EXPECT_EQ(decode_split(encoding, packed, cuts, plain.size()), plain);
        EXPECT_EQ(decode_split(encoding, packed, cuts, plain.size() + 1), plain);

        Decompressor decompressor(encoding, plain.size() - 1);
        std::string out;
        std::size_t from = 0;
        bool thrown = false;
        for (std::size_t cut : cuts) {
            try {
                decompressor.feed(std::string_view(packed).substr(from, cut - from), out);
            } catch (const DecompressionLimitExceeded& error) {
                EXPECT_EQ(error.limit(), plain.size() - 1);
                thrown = true;
                break;
            }
            from = cut;
        }
        if (!thrown) {
            EXPECT_THROW(decompressor.feed(std::string_view(packed).substr(from), out),
                         DecompressionLimitExceeded);
        }
        // Output stops at the byte that trips the limit.
        EXPECT_EQ(decompressor.total_out(), plain.size());
        EXPECT_LE(out.size(), plain.size() - 1);
        EXPECT_EQ(out, plain.substr(0, out.size()));
    }
}

TEST(DecompressorTest, DecodeSomeNeverWritesPastTheLimit) {
    std::string plain(5000, 'a');
    std::string packed = compress(plain, Encoding::Brotli);
    Decompressor decompressor(Encoding::Brotli, 1000);
    std::string out(8000, '#');
    auto* p = reinterpret_cast<const std::uint8_t*>(packed.data());
    EXPECT_THROW(decompressor.decode_some(p, packed.size(),
                                          reinterpret_cast<std::uint8_t*>(out.data()), out.size()),
                 DecompressionLimitExceeded);
    EXPECT_EQ(decompressor.total_out(), 1001U);
    EXPECT_EQ(out.substr(1001), std::string(8000 - 1001, '#'));
}

TEST(DecompressorTest, AllowanceCountsDown) {
    Decompressor decompressor(Encoding::Identity, 10);
    EXPECT_EQ(decompressor.output_allowance(), 11U);
    decompressor.feed("abcd");
    EXPECT_EQ(decompressor.output_allowance(), 7U);
    EXPECT_EQ(Decompressor(Encoding::Gzip).output_allowance(), Decompressor::kNoLimit);
    EXPECT_EQ(decompressor.max_output(), 10U);
    EXPECT_EQ(decompressor.encoding(), Encoding::Identity);
}

TEST(DecompressorTest, MovedDecompressorKeepsItsState) {
    std::string packed = gzip_member(json_body(1000));
    Decompressor first(Encoding::Gzip);
    std::string out = first.feed(std::string_view(packed).substr(0, 100));
    Decompressor second(std::move(first));
    out += second.feed(std::string_view(packed).substr(100));
    second.finish();
    EXPECT_EQ(out, json_body(1000));
}

// A bomb fed in network-sized chunks: memory stays at the limit plus one chunk and decoding
// stops in the chunk that passes the limit, long before the input ends.
TEST(DecompressorTest, StreamingBombsStopAtOnce) {
    const std::size_t limit = 10 << 20;
    const std::size_t chunk = 64 * 1024;
    for (Encoding encoding : {Encoding::Gzip, Encoding::Brotli}) {
        SCOPED_TRACE(encoding_name(encoding));
        const std::string& bomb =
            encoding == Encoding::Gzip ? testing::gzip_gib_bomb() : testing::brotli_gib_bomb();
        Decompressor decompressor(encoding, limit);
        std::size_t held = 0;
        bool stopped = false;
        for (std::size_t at = 0; at < bomb.size() && !stopped; at += chunk) {
            std::string out;
            try {
                decompressor.feed(std::string_view(bomb).substr(at, chunk), out);
            } catch (const DecompressionLimitExceeded&) {
                stopped = true;
            }
            held += out.size();
            EXPECT_LE(out.capacity(), 2 * (limit + 1));
        }
        EXPECT_TRUE(stopped);
        EXPECT_LE(held, limit);
        EXPECT_EQ(decompressor.total_out(), limit + 1);
        EXPECT_LT(decompressor.total_in(), bomb.size());
    }
}

TEST(DecompressorTest, ManyGzipMembersBomb) {
    // 4096 members of 256 KiB of zeros each: 1 GiB out of a few hundred KB in.
    std::string member = testing::gzip_zero_bomb(256 * 1024);
    std::string bomb;
    for (int i = 0; i < 4096; ++i) bomb += member;
    Decompressor decompressor(Encoding::Gzip, 1 << 20);
    EXPECT_THROW(decompressor.feed(bomb), DecompressionLimitExceeded);
    EXPECT_EQ(decompressor.total_out(), (1U << 20) + 1);
}

}  // namespace
}  // namespace asap_native::codec
