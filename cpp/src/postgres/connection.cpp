#include "asap_native/postgres/connection.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <cerrno>
#include <cstring>
#include <memory>

#include "asap_native/errors.hpp"
#include "asap_native/postgres/dsn.hpp"
#include "asap_native/postgres/errors.hpp"

namespace asap_native::pg {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kControlSql[] = {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT asap_step",
                                       "ROLLBACK TO SAVEPOINT asap_step"};
constexpr const char* kControlNames[] = {"c0", "c1", "c2", "c3", "c4"};

// Notices are not printed to stderr, as libpq's default processor would. An error that arrives
// while the connection is idle comes here too: the FATAL message the server sends a session it
// is about to close (a restart, pg_terminate_backend); the connection is then marked closing.
void on_notice(void* closing, const PGresult* result) {
    const char* severity = PQresultErrorField(result, PG_DIAG_SEVERITY_NONLOCALIZED);
    if (severity != nullptr &&
        (std::strcmp(severity, "FATAL") == 0 || std::strcmp(severity, "PANIC") == 0))
        *static_cast<bool*>(closing) = true;
}

struct ConnDeleter {
    void operator()(PGconn* conn) const { PQfinish(conn); }
};

std::string seconds_text(std::chrono::milliseconds duration) {
    const auto ms = duration.count();
    std::string text = std::to_string(ms / 1000);
    if (ms % 1000 != 0) {
        std::string fraction = std::to_string(1000 + ms % 1000).substr(1);
        while (!fraction.empty() && fraction.back() == '0') fraction.pop_back();
        text += "." + fraction;
    }
    return text + " s";
}

// Waits until `fd` is ready for `events` or `deadline` passes; false on timeout.
bool wait_fd(int fd, short events, Clock::time_point deadline) {
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
        if (left <= 0) return false;
        pollfd p{fd, events, 0};
        const int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1 << 30)));
        if (n > 0) return true;
        if (n < 0 && errno != EINTR)
            throw connection_lost(std::string("poll failed: ") + std::strerror(errno));
    }
}

}  // namespace

Connection::Connection(const ConnectOptions& options)
    : timeout_(options.timeout), silence_limit_(options.timeout + std::chrono::seconds(2)) {
    validate_dsn(options.dsn);
    // The DSN first; what follows overrides it: every string the stores send is UTF-8.
    const char* keys[] = {"dbname", "client_encoding", "fallback_application_name", nullptr};
    const char* values[] = {options.dsn.c_str(), "UTF8", "asap_native", nullptr};
    std::unique_ptr<PGconn, ConnDeleter> conn(PQconnectStartParams(keys, values, 1));
    if (!conn) throw std::bad_alloc();
    if (PQstatus(conn.get()) == CONNECTION_BAD) throw connect_error(PQerrorMessage(conn.get()));
    PQsetNoticeReceiver(conn.get(), on_notice, &closing_);
    const auto deadline = Clock::now() + timeout_;
    PostgresPollingStatusType state = PGRES_POLLING_WRITING;
    while (state != PGRES_POLLING_OK) {
        if (state == PGRES_POLLING_FAILED) throw connect_error(PQerrorMessage(conn.get()));
        const short events = state == PGRES_POLLING_READING ? POLLIN : POLLOUT;
        if (!wait_fd(PQsocket(conn.get()), events, deadline))
            throw StoreError(StoreErrorKind::Connection,
                             "cannot connect to PostgreSQL (" + describe_dsn(options.dsn) +
                                 "): no answer within " + seconds_text(timeout_),
                             "");
        state = PQconnectPoll(conn.get());
    }
    if (PQsetnonblocking(conn.get(), 1) != 0) throw connect_error(PQerrorMessage(conn.get()));
    const char* encoding = PQparameterStatus(conn.get(), "server_encoding");
    if (encoding == nullptr || std::strcmp(encoding, "UTF8") != 0)
        throw StoreError(StoreErrorKind::CantOpen,
                         std::string("the PostgreSQL database uses the encoding ") +
                             (encoding ? encoding : "(unknown)") +
                             "; asap_native needs a UTF8 database",
                         "");
    conn_ = conn.release();
    execute("SET statement_timeout = " + std::to_string(timeout_.count()));
}

Connection::~Connection() {
    if (conn_ != nullptr) PQfinish(conn_);
}

void Connection::fail(const std::string& message) {
    broken_ = true;
    pending_.clear();
    throw connection_lost(message);
}

void Connection::check_open() {
    if (broken_ || conn_ == nullptr)
        throw connection_lost("the connection was lost earlier and cannot be used");
    if (PQstatus(conn_) == CONNECTION_BAD) fail(PQerrorMessage(conn_));
}

void Connection::wait(short events) {
    const int fd = PQsocket(conn_);
    if (fd < 0) fail(PQerrorMessage(conn_));
    bool ready;
    try {
        ready = wait_fd(fd, events, Clock::now() + silence_limit_);
    } catch (...) {
        broken_ = true;
        pending_.clear();
        throw;
    }
    if (!ready)
        fail("no answer from the server within " + seconds_text(silence_limit_) +
             " (the network or the server is down)");
}

void Connection::consume() {
    if (PQconsumeInput(conn_) == 0 || PQstatus(conn_) == CONNECTION_BAD)
        fail(PQerrorMessage(conn_));
}

void Connection::flush() {
    for (;;) {
        const int rc = PQflush(conn_);
        if (rc == 0) return;
        if (rc < 0) fail(PQerrorMessage(conn_));
        // The server may be blocked writing results we have not read: read while we wait.
        const int fd = PQsocket(conn_);
        pollfd p{fd, POLLIN | POLLOUT, 0};
        const int n = ::poll(&p, 1, static_cast<int>(silence_limit_.count()));
        if (n == 0) fail("the server stopped reading within " + seconds_text(silence_limit_));
        if (n < 0) {
            if (errno == EINTR) continue;
            fail(std::string("poll failed: ") + std::strerror(errno));
        }
        if (p.revents & (POLLIN | POLLERR | POLLHUP)) consume();
    }
}

Result Connection::execute(const std::string& sql) {
    check_open();
    if (PQsendQuery(conn_, sql.c_str()) == 0) fail(PQerrorMessage(conn_));
    flush();
    Result last;
    std::exception_ptr first_error;
    for (;;) {
        while (PQisBusy(conn_) != 0) {
            wait(POLLIN);
            consume();
        }
        Result result(PQgetResult(conn_));
        if (!result) break;
        if (PQresultStatus(result.get()) == PGRES_FATAL_ERROR) {
            StoreError error = error_from_result(result.get());
            if (error.kind() == StoreErrorKind::Connection || PQstatus(conn_) == CONNECTION_BAD) {
                broken_ = true;
                throw error;
            }
            if (!first_error) first_error = std::make_exception_ptr(error);
            continue;
        }
        last = std::move(result);
    }
    if (first_error) std::rethrow_exception(first_error);
    return last;
}

void Connection::prepare(const Statements& statements) {
    check_open();
    if (PQenterPipelineMode(conn_) == 0) fail(PQerrorMessage(conn_));
    names_.clear();
    for (std::size_t i = 0; i < statements.size(); ++i) {
        names_.push_back("s" + std::to_string(i));
        const auto& types = statements[i].parameter_types;
        if (PQsendPrepare(conn_, names_.back().c_str(), statements[i].sql.c_str(),
                          static_cast<int>(types.size()),
                          reinterpret_cast<const Oid*>(types.data())) == 0)
            fail(PQerrorMessage(conn_));
        pending_.push_back(Pending{kNoTag, {}});
    }
    for (std::size_t i = 0; i < std::size(kControlSql); ++i) {
        if (PQsendPrepare(conn_, kControlNames[i], kControlSql[i], 0, nullptr) == 0)
            fail(PQerrorMessage(conn_));
        pending_.push_back(Pending{kNoTag, {}});
    }
    finish();
}

void Connection::send(int index, const Params& params, OnResult on_result) {
    check_open();
    if (index < 0 || static_cast<std::size_t>(index) >= names_.size())
        throw std::logic_error("unknown prepared statement");
    if (PQsendQueryPrepared(conn_, names_[static_cast<std::size_t>(index)].c_str(), params.size(),
                            params.values(), params.lengths(), params.formats(), 0) == 0)
        fail(PQerrorMessage(conn_));
    pending_.push_back(Pending{tag_, std::move(on_result)});
    ++sent_;
}

void Connection::send(Control control, OnResult on_result) {
    check_open();
    const auto i = static_cast<std::size_t>(control);
    if (PQsendQueryPrepared(conn_, kControlNames[i], 0, nullptr, nullptr, nullptr, 0) == 0)
        fail(PQerrorMessage(conn_));
    pending_.push_back(Pending{kNoTag, std::move(on_result)});
}

void Connection::send_sql(const std::string& sql, OnResult on_result) {
    check_open();
    if (PQsendQueryParams(conn_, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0) == 0)
        fail(PQerrorMessage(conn_));
    pending_.push_back(Pending{tag_, std::move(on_result)});
    ++sent_;
}

Connection::BatchOutcome Connection::finish_batch() {
    BatchOutcome outcome;
    if (pending_.empty()) return outcome;
    check_open();
    if (PQpipelineSync(conn_) == 0) fail(PQerrorMessage(conn_));
    Pending sync;
    sync.is_sync = true;
    pending_.push_back(std::move(sync));
    flush();
    read_results(outcome);
    return outcome;
}

void Connection::read_results(BatchOutcome& outcome) {
    int empty_reads = 0;
    while (!pending_.empty()) {
        if (PQisBusy(conn_) != 0) {
            wait(POLLIN);
            consume();
            continue;
        }
        Result result(PQgetResult(conn_));
        Pending& front = pending_.front();
        if (!result) {
            // Ends the results of one statement (a sync point has no such end).
            if (!front.is_sync && front.got_result) {
                pending_.pop_front();
                empty_reads = 0;
                continue;
            }
            if (PQstatus(conn_) == CONNECTION_BAD) fail(PQerrorMessage(conn_));
            if (++empty_reads > 2) {  // nothing yet, although libpq said it would not block
                wait(POLLIN);
                consume();
                empty_reads = 0;
            }
            continue;
        }
        empty_reads = 0;
        const ExecStatusType status = PQresultStatus(result.get());
        if (status == PGRES_PIPELINE_SYNC) {
            if (!front.is_sync)
                fail("the server's answers are out of step with the statements sent");
            pending_.pop_front();
            continue;
        }
        if (status == PGRES_FATAL_ERROR) {
            StoreError error = error_from_result(result.get());
            if (error.kind() == StoreErrorKind::Connection || PQstatus(conn_) == CONNECTION_BAD) {
                broken_ = true;
                pending_.clear();
                throw error;
            }
            if (!front.is_sync) front.got_result = true;
            if (!outcome.error) {
                outcome.error = std::make_exception_ptr(error);
                outcome.failed_tag = front.is_sync ? kNoTag : front.tag;
            }
            continue;
        }
        if (front.is_sync) fail("the server's answers are out of step with the statements sent");
        front.got_result = true;
        if (status == PGRES_PIPELINE_ABORTED) continue;  // skipped after an earlier failure
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
            if (!outcome.error) {
                outcome.error = std::make_exception_ptr(StoreError(
                    StoreErrorKind::Other,
                    std::string("PostgreSQL: unexpected result ") + PQresStatus(status), ""));
                outcome.failed_tag = front.tag;
            }
            continue;
        }
        if (front.on_result) {
            try {
                front.on_result(result);
            } catch (...) {
                outcome.callback_errors.emplace_back(front.tag, std::current_exception());
            }
        }
    }
}

void Connection::finish() {
    BatchOutcome outcome = finish_batch();
    if (outcome.error) std::rethrow_exception(outcome.error);
    if (!outcome.callback_errors.empty()) std::rethrow_exception(outcome.callback_errors[0].second);
}

Result Connection::query(int index, const Params& params) {
    Result out;
    send(index, params, [&out](Result& result) { out = std::move(result); });
    finish();
    return out;
}

bool Connection::idle() const noexcept {
    return !broken_ && conn_ != nullptr && pending_.empty() && PQstatus(conn_) == CONNECTION_OK &&
           PQtransactionStatus(conn_) == PQTRANS_IDLE;
}

bool Connection::still_open() {
    if (!idle()) return false;
    pollfd p{PQsocket(conn_), POLLIN, 0};
    if (::poll(&p, 1, 0) <= 0) return true;  // nothing arrived while idle
    // Something arrived while idle: a notice, or the server closing the session (a restart
    // sends FATAL, then closes). PQisBusy parses it (on_notice sees an error).
    if (PQconsumeInput(conn_) == 0 || PQstatus(conn_) == CONNECTION_BAD) {
        broken_ = true;
        return false;
    }
    (void)PQisBusy(conn_);
    if (closing_ || PQstatus(conn_) == CONNECTION_BAD) {
        broken_ = true;
        return false;
    }
    return true;
}

}  // namespace asap_native::pg
