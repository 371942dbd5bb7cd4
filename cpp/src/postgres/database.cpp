#include "asap_native/postgres/database.hpp"

#include <chrono>

#include "asap_native/errors.hpp"
#include "asap_native/executor.hpp"
#include "asap_native/process_generation.hpp"

namespace asap_native::pg {
namespace {

// A connection for each executor reader thread, and as many for callers of the sync API.
int default_connection_count() { return 2 * default_executor_readers(); }

// Failures caused by a step's own values (data exceptions, constraint violations): the batch is
// redone without that step. Any other failure (a statement timeout, a lock, a read-only server,
// a full disk) would strike the other steps too: the whole batch fails with it at once, rather
// than after one timeout per step.
bool is_steps_own_failure(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const StoreError& e) {
        const std::string& state = e.sqlstate();
        return state.rfind("22", 0) == 0 || state.rfind("23", 0) == 0;
    } catch (...) {
        return true;
    }
}

// For a forked child: the parent's session must not be ended by the child.
void abandon(std::unique_ptr<Connection> connection) { connection->abandon(); }

}  // namespace

Database::Database(ConnectOptions options, Schema schema, Statements statements,
                   int max_connections)
    : options_(std::move(options)),
      schema_(std::move(schema)),
      statements_(std::move(statements)),
      max_connections_(max_connections > 0 ? max_connections : default_connection_count()) {
    auto state = std::make_unique<State>();
    state->generation = process_generation();
    // Connect now: a bad DSN, a server that cannot be reached or a refused password fail the
    // store's creation, and the schema exists before the first call.
    state->pool.add_idle(open_connection());
    state_.store(state.release());
}

Database::~Database() {
    State* state = state_.load();
    if (state == nullptr) return;
    if (state->generation == process_generation()) {
        delete state;
        return;
    }
    // A forked child: the connections are the parent's sessions. Leave them alone.
    state->pool.forget_all(abandon);
    if (state->batch) state->batch->abandon();
}

std::unique_ptr<Connection> Database::open_connection() {
    auto connection = std::make_unique<Connection>(options_);
    if (!migrated_.load()) {
        migrate(*connection, schema_);
        migrated_.store(true);
    }
    connection->prepare(statements_);
    opened_.fetch_add(1);
    return connection;
}

Database::State& Database::current_state() {
    State* state = state_.load(std::memory_order_acquire);
    if (state->generation == process_generation()) return *state;
    // A forked child: the parent's connections (and possibly locked mutexes) stay untouched in
    // the old state, deliberately leaked; this process opens its own connections.
    static std::mutex fork_mutex;
    std::lock_guard<std::mutex> lock(fork_mutex);
    state = state_.load(std::memory_order_acquire);
    if (state->generation == process_generation()) return *state;
    state->pool.forget_all(abandon);
    auto fresh = std::make_unique<State>();
    fresh->generation = process_generation();
    State* installed = fresh.release();
    state_.store(installed, std::memory_order_release);
    return *installed;
}

Database::Pool::Lease Database::lease_connection() {
    Pool& pool = current_state().pool;
    Pool::Patience patience{std::chrono::steady_clock::now() + options_.timeout,
                            "no PostgreSQL connection of the store became free within the "
                            "store's timeout"};
    Pool::Owned connection = pool.acquire(
        closed_, max_connections_, [this] { return open_connection(); },
        // An idle connection the server closed meanwhile (a restart) is replaced.
        [](Connection& idle) { return idle.still_open(); }, patience);
    // Lost, or left with statements in flight or a transaction open: never reused.
    return Pool::Lease(pool, std::move(connection),
                       [this](Connection& used) { return used.idle() && !closed_.load(); });
}

std::vector<std::exception_ptr> Database::run_batch(
    const std::vector<const BatchStep<Connection>*>& steps) {
    std::vector<std::exception_ptr> errors(steps.size());
    if (steps.empty()) return errors;
    State& state = current_state();
    std::lock_guard<std::mutex> lock(state.batch_mutex);
    try {
        if (closed_.load()) throw store_closed_error();
        if (state.batch && !state.batch->still_open()) state.batch.reset();
        if (!state.batch) state.batch = open_connection();
        run_rounds(*state.batch, steps, errors);
    } catch (...) {
        const std::exception_ptr failure = std::current_exception();
        for (auto& error : errors)
            if (!error) error = failure;
        if (state.batch && !state.batch->idle()) state.batch.reset();
    }
    return errors;
}

// One round: BEGIN (or, resuming, ROLLBACK TO SAVEPOINT), the steps, COMMIT, sync; all
// pipelined. The first round runs the steps bare: savepoints cost a subtransaction each, and a
// transaction with more than 64 of them slows every other session's snapshots. When a step
// fails, the server skips everything after it; the next round rolls back and redoes the batch
// without that step, each step now under a savepoint, so that a later failure only needs a
// ROLLBACK TO SAVEPOINT and the steps after it.
void Database::run_rounds(Connection& connection,
                          const std::vector<const BatchStep<Connection>*>& steps,
                          std::vector<std::exception_ptr>& errors) {
    const std::size_t count = steps.size();
    bool savepoints = false;
    bool resume = false;
    bool rollback_first = false;
    std::size_t first = 0;
    for (;;) {
        connection.set_tag(Connection::kNoTag);
        if (resume) {
            connection.send(Control::RollbackToSavepoint);
        } else {
            if (rollback_first) connection.send(Control::Rollback);
            connection.send(Control::Begin);
        }
        std::size_t poisoned = count;  // a step that threw after queueing statements
        for (std::size_t i = first; i < count; ++i) {
            if (errors[i]) continue;
            if (savepoints) {
                connection.set_tag(Connection::kNoTag);
                connection.send(Control::Savepoint);
            }
            connection.set_tag(static_cast<int>(i));
            const std::uint64_t before = connection.sent();
            try {
                (*steps[i])(connection);
            } catch (...) {
                errors[i] = std::current_exception();
                if (connection.broken()) throw;
                if (connection.sent() != before) {  // its statements must be undone
                    poisoned = i;
                    break;
                }
            }
        }
        connection.set_tag(Connection::kNoTag);
        bool committed = false;
        if (poisoned == count) connection.send(Control::Commit, [&](Result&) { committed = true; });
        const Connection::BatchOutcome outcome = connection.finish_batch();
        if (committed) {
            // Statements that succeeded but whose result could not be read: their step fails
            // (its writes are committed).
            for (const auto& [tag, error] : outcome.callback_errors)
                if (tag >= 0 && !errors[static_cast<std::size_t>(tag)])
                    errors[static_cast<std::size_t>(tag)] = error;
            return;
        }
        std::size_t failed = poisoned;
        if (outcome.error) {
            // BEGIN, COMMIT or ROLLBACK failed, or a step on something not its own: the whole
            // batch fails.
            if (outcome.failed_tag == Connection::kNoTag || !is_steps_own_failure(outcome.error))
                std::rethrow_exception(outcome.error);
            const auto tag = static_cast<std::size_t>(outcome.failed_tag);
            if (tag < failed) {
                failed = tag;
                if (!errors[tag]) errors[tag] = outcome.error;
            }
        }
        if (failed == count)
            throw StoreError(StoreErrorKind::Other,
                             "PostgreSQL did not commit the batch and reported no failure", "");
        if (!savepoints) {
            savepoints = true;
            rollback_first = true;
            first = 0;
        } else {
            resume = true;
            first = failed + 1;
        }
    }
}

void Database::close() {
    State& state = current_state();
    std::lock_guard<std::mutex> batch_lock(state.batch_mutex);
    if (closed_.exchange(true)) return;
    // Leased connections come back when their call ends (every wait is bounded).
    state.pool.close_all();
    state.batch.reset();
}

int Database::open_connections() {
    State& state = current_state();
    std::lock_guard<std::mutex> batch_lock(state.batch_mutex);
    return state.pool.open_count() + (state.batch ? 1 : 0);
}

}  // namespace asap_native::pg
