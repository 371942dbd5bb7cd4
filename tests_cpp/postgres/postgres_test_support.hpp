// Helpers for the PostgreSQL tests: the server to use, a fresh schema per test, raw SQL.
//
// The tests run against the server named by ASAP_TEST_POSTGRES_DSN (make test-cpp starts a
// throwaway cluster and sets it: tools/pg_cluster.py); without it they are skipped. Each test
// works in a schema of its own (search_path in its DSN), so tests never see each other's rows.
#pragma once

#ifdef ASAP_NATIVE_HAS_POSTGRES

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>

#include "asap_native/postgres/connection.hpp"

namespace asap_native::testing {

/// The DSN of the test server, or "" when none is configured.
inline std::string postgres_test_dsn() {
    const char* dsn = std::getenv("ASAP_TEST_POSTGRES_DSN");
    return dsn != nullptr ? dsn : "";
}

inline void mark_skipped_without_postgres() {
    GTEST_SKIP_("ASAP_TEST_POSTGRES_DSN is not set (make test-cpp starts a server and sets it)");
}

/// Marks the current test skipped when no server is configured; true when it was. (Called from
/// SetUp, or a factory SetUp calls, the test body then does not run.)
inline bool skip_without_postgres() {
    if (!postgres_test_dsn().empty()) return false;
    mark_skipped_without_postgres();
    return true;
}

/// A plain blocking libpq connection, as another program (or an operator) would hold one.
class RawPg {
public:
    explicit RawPg(const std::string& dsn) : conn_(PQconnectdb(dsn.c_str())) {
        if (PQstatus(conn_) != CONNECTION_OK) {
            const std::string message = PQerrorMessage(conn_);
            PQfinish(conn_);
            throw std::runtime_error("raw connect failed: " + message);
        }
        PQsetNoticeProcessor(
            conn_, [](void*, const char*) {}, nullptr);
    }
    ~RawPg() { PQfinish(conn_); }
    RawPg(const RawPg&) = delete;
    RawPg& operator=(const RawPg&) = delete;

    /// Runs SQL; throws std::runtime_error with the server's message.
    void exec(const std::string& sql) {
        PGresult* result = PQexec(conn_, sql.c_str());
        const auto status = PQresultStatus(result);
        const std::string message = PQresultErrorMessage(result);
        PQclear(result);
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
            throw std::runtime_error("raw exec failed: " + message);
    }
    /// The first column of the first row ("" when there is none).
    std::string text(const std::string& sql) {
        PGresult* result = PQexec(conn_, sql.c_str());
        std::string out;
        const auto status = PQresultStatus(result);
        const std::string message = PQresultErrorMessage(result);
        if (status == PGRES_TUPLES_OK && PQntuples(result) > 0) out = PQgetvalue(result, 0, 0);
        PQclear(result);
        if (status != PGRES_TUPLES_OK) throw std::runtime_error("raw query failed: " + message);
        return out;
    }
    std::int64_t integer(const std::string& sql) { return std::stoll(text(sql)); }

private:
    PGconn* conn_;
};

/// A schema of its own for one test; `dsn()` points its search_path there.
class TestSchema {
public:
    TestSchema() {
        static std::atomic<int> counter{0};
        std::random_device random;
        name_ = "t_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
                std::to_string(random() % 100000);
        RawPg(postgres_test_dsn()).exec("CREATE SCHEMA " + name_);
    }
    ~TestSchema() {
        try {
            RawPg(postgres_test_dsn()).exec("DROP SCHEMA IF EXISTS " + name_ + " CASCADE");
        } catch (...) {
        }
    }
    TestSchema(const TestSchema&) = delete;
    TestSchema& operator=(const TestSchema&) = delete;

    const std::string& name() const { return name_; }
    /// The test server, search_path and application_name set to this schema's name (so a test
    /// can find, and end, its own sessions).
    std::string dsn() const {
        return postgres_test_dsn() + " options='-csearch_path=" + name_ +
               "' application_name=" + name_;
    }
    /// Ends every session this schema's stores opened (as a server restart would).
    void terminate_sessions() const {
        RawPg(postgres_test_dsn())
            .text(
                "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity "
                "WHERE application_name = '" +
                name_ + "'");
    }
    /// Sessions this schema's stores have open.
    std::int64_t sessions() const {
        return RawPg(postgres_test_dsn())
            .integer("SELECT count(*) FROM pg_stat_activity WHERE application_name = '" + name_ +
                     "'");
    }
    pg::ConnectOptions options(std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
        return pg::ConnectOptions{dsn(), timeout};
    }
    /// A raw connection whose search_path is this schema.
    RawPg raw() const { return RawPg(dsn()); }

private:
    std::string name_;
};

}  // namespace asap_native::testing

#endif  // ASAP_NATIVE_HAS_POSTGRES
