// Error types: the mapping from SQLite result codes to kinds and names.
#include "asap_native/errors.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cerrno>

namespace asap_native {
namespace {

TEST(StoreError, KindForPrimaryAndExtendedCodes) {
    struct Case {
        int code;
        StoreErrorKind kind;
    };
    for (const Case& c : {
             Case{SQLITE_BUSY, StoreErrorKind::Busy},
             Case{SQLITE_BUSY_SNAPSHOT, StoreErrorKind::Busy},
             Case{SQLITE_BUSY_RECOVERY, StoreErrorKind::Busy},
             Case{SQLITE_LOCKED, StoreErrorKind::Busy},
             Case{SQLITE_LOCKED_SHAREDCACHE, StoreErrorKind::Busy},
             Case{SQLITE_READONLY, StoreErrorKind::ReadOnly},
             Case{SQLITE_READONLY_DBMOVED, StoreErrorKind::ReadOnly},
             Case{SQLITE_PERM, StoreErrorKind::ReadOnly},
             Case{SQLITE_NOTADB, StoreErrorKind::NotADatabase},
             Case{SQLITE_CORRUPT, StoreErrorKind::NotADatabase},
             Case{SQLITE_CANTOPEN, StoreErrorKind::CantOpen},
             Case{SQLITE_CANTOPEN_ISDIR, StoreErrorKind::CantOpen},
             Case{SQLITE_IOERR, StoreErrorKind::IO},
             Case{SQLITE_IOERR_WRITE, StoreErrorKind::IO},
             Case{SQLITE_IOERR_FSYNC, StoreErrorKind::IO},
             Case{SQLITE_FULL, StoreErrorKind::IO},
             Case{SQLITE_ERROR, StoreErrorKind::Other},
             Case{SQLITE_CONSTRAINT_PRIMARYKEY, StoreErrorKind::Other},
             Case{SQLITE_MISUSE, StoreErrorKind::Other},
         }) {
        EXPECT_EQ(StoreError::kind_for_code(c.code), c.kind) << c.code;
    }
}

TEST(StoreError, CarriesCodeMessageAndSymbolicName) {
    const StoreError busy(StoreErrorKind::Busy, SQLITE_BUSY_SNAPSHOT, "database is locked");
    EXPECT_EQ(busy.kind(), StoreErrorKind::Busy);
    EXPECT_EQ(busy.sqlite_code(), SQLITE_BUSY_SNAPSHOT);
    EXPECT_EQ(busy.sqlite_error_name(), "SQLITE_BUSY");
    EXPECT_STREQ(busy.what(), "database is locked");
    EXPECT_EQ(StoreError(StoreErrorKind::IO, SQLITE_IOERR_WRITE, "").sqlite_error_name(),
              "SQLITE_IOERR");
    EXPECT_EQ(StoreError(StoreErrorKind::NotADatabase, SQLITE_NOTADB, "").sqlite_error_name(),
              "SQLITE_NOTADB");
    EXPECT_EQ(StoreError(StoreErrorKind::Closed, 0, "closed").sqlite_error_name(), "");
    // A code without a name of its own still gets a distinct one.
    EXPECT_EQ(StoreError(StoreErrorKind::Other, SQLITE_RANGE, "").sqlite_error_name(),
              "SQLITE_" + std::to_string(SQLITE_RANGE));
}

TEST(PathError, IsAnInvalidArgumentWithErrnoAndPath) {
    try {
        throw PathError(EISDIR, "is a directory", "/tmp");
    } catch (const InvalidArgument& e) {
        const auto* path_error = dynamic_cast<const PathError*>(&e);
        ASSERT_NE(path_error, nullptr);
        EXPECT_EQ(path_error->error_number(), EISDIR);
        EXPECT_EQ(path_error->path(), "/tmp");
        EXPECT_STREQ(e.what(), "is a directory");
    }
}

}  // namespace
}  // namespace asap_native
