// Threads that run a store's database work for the queued (awaitable) API, with group commit.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "asap_native/batch_step.hpp"
#include "asap_native/errors.hpp"
#include "asap_native/process_generation.hpp"
#include "asap_native/store_stats.hpp"

namespace asap_native {

/// A unit of work on a `Connection`: `run` uses the connection (inside the group transaction
/// for writes); `complete` is then called exactly once, on an executor thread, with null or
/// the error (for writes, only after the transaction committed). `complete` must not throw.
template <typename Connection>
struct Job {
    std::function<void(Connection&)> run;
    std::function<void(std::exception_ptr)> complete;
};

/// Reader threads for a machine: 2 to 4.
int default_executor_readers() noexcept;

/// Runs jobs for one database on threads it owns: one writer, which takes every queued write
/// and commits them in one transaction (group commit), and a few readers. Jobs that share a
/// key (a task id) run in submission order: a read submitted while writes for its key are
/// queued runs on the writer thread after them. An exclusive job runs on the writer thread,
/// in queue order, with the writer connection to itself and outside any group transaction
/// (it manages its own, or none). Threads start on first use; a forked child starts its own.
/// Thread-safe.
///
/// `Database` provides `Connection`, `with_reader(work)` and `with_writer(work)`
/// (work(Connection&) on a reader / the writer connection) and `run_batch(steps)` (every
/// step in one transaction, each isolated by a savepoint; one exception_ptr per step):
/// sqlite::Database does, and so can any backend.
template <typename Database>
class Executor {
public:
    using Connection = typename Database::Connection;
    using Step = BatchStep<Connection>;

    /// `reader_threads` 0 picks default_executor_readers(). `stats` (may be null) receives
    /// the size of every group commit.
    explicit Executor(Database& database, int reader_threads = 0, std::size_t max_batch = 1024,
                      StoreStats* stats = nullptr)
        : database_(database),
          reader_threads_(reader_threads > 0 ? reader_threads : default_executor_readers()),
          max_batch_(std::max<std::size_t>(1, max_batch)),
          stats_(stats),
          state_(std::make_unique<State>()) {}

    /// Runs everything queued, then stops (see shutdown()).
    ~Executor() {
        shutdown();
        if (state_ && state_->generation != process_generation()) (void)state_.release();
    }
    Executor(const Executor&) = delete;
    Executor& operator=(const Executor&) = delete;

    /// Queues a write. Throws StoreError(Closed) after shutdown() (the job is then dropped).
    void submit_write(const std::string& key, Job<Connection> job) {
        submit(key, std::move(job), Kind::Write);
    }
    /// Queues a read. Throws StoreError(Closed) after shutdown() (the job is then dropped).
    void submit_read(const std::string& key, Job<Connection> job) {
        submit(key, std::move(job), Kind::Read);
    }
    /// Queues an exclusive job: the writer connection, alone, outside any group transaction.
    /// While it runs, writes wait; reads on reader connections go on. Throws like the others.
    void submit_exclusive(const std::string& key, Job<Connection> job) {
        submit(key, std::move(job), Kind::Exclusive);
    }

    /// Stops accepting jobs: submitting then throws StoreError(Closed). Jobs queued already
    /// still run; shutdown() waits for them.
    void stop_accepting();
    /// Stops accepting jobs, waits until every queued job has completed, joins the threads.
    void shutdown();
    /// Waits until nothing is queued or running and every thread of this process waits for
    /// work (true), or until `timeout` passed (false). For a caller about to fork(): a thread
    /// busy at that moment may hold a lock the child inherits locked (AddressSanitizer's
    /// allocator takes no fork lock, so a child's first malloc() can wait forever).
    bool wait_idle(std::chrono::milliseconds timeout);

private:
    enum class Kind { Read, Write, Exclusive };
    struct Queued {
        std::string key;
        Job<Connection> job;
        Kind kind = Kind::Read;
    };
    struct State {
        std::uint64_t generation = process_generation();
        std::mutex mutex;
        // Separate wake-ups, each sent only to a thread that is waiting: waking every thread
        // on every submission cost more than the SQLite work (and kept group commits small).
        std::condition_variable reader_ready;
        std::condition_variable writer_ready;
        std::condition_variable became_idle;  // a thread started waiting for work
        int idle_readers = 0;
        bool writer_idle = false;
        std::deque<Queued> writer_queue;  // writes, and reads that must follow queued writes
        std::deque<Queued> reader_queue;
        std::unordered_map<std::string, int> pending_writes;  // by key
        bool started = false;
        bool stopping = false;
        std::thread writer;
        std::vector<std::thread> readers;
        std::vector<std::thread::id> thread_ids;  // set once by start_threads()
        std::mutex join_mutex;  // held by the one shutdown() call that joins the threads
    };

    // The state whose threads run in this process, or null (none started, or a forked
    // child's inherited state, whose threads are the parent's).
    State* live_state() {
        std::lock_guard<std::mutex> lock(state_mutex_);
        if (!state_ || state_->generation != process_generation()) return nullptr;
        return state_.get();
    }

    State& current_state() {
        std::lock_guard<std::mutex> lock(state_mutex_);
        if (state_->generation != process_generation()) {
            // A forked child has none of the parent's threads and may have inherited locked
            // mutexes: leak the parent's state and start afresh.
            (void)state_.release();
            state_ = std::make_unique<State>();
        }
        return *state_;
    }

    // Call with the state's mutex held.
    void start_threads(State& state) {
        if (state.started) return;
        state.started = true;
        state.writer = std::thread([this, &state] { writer_loop(state); });
        for (int i = 0; i < reader_threads_; ++i)
            state.readers.emplace_back([this, &state] { reader_loop(state); });
        state.thread_ids.push_back(state.writer.get_id());
        for (auto& reader : state.readers) state.thread_ids.push_back(reader.get_id());
    }

    void submit(const std::string& key, Job<Connection> job, Kind kind);
    void writer_loop(State& state);
    void reader_loop(State& state);
    // Runs a job outside any group commit; returns its error (null on success). The caller
    // completes it.
    std::exception_ptr run_alone(Job<Connection>& job, Kind kind) {
        try {
            auto work = [&](Connection& connection) { job.run(connection); };
            if (kind == Kind::Exclusive)
                database_.with_writer(work);
            else
                database_.with_reader(work);
        } catch (...) {
            return std::current_exception();
        }
        return nullptr;
    }
    void finish_writes(State& state, std::vector<Queued>& writes);
    void forget_pending(State& state, const std::string& key);

    Database& database_;
    int reader_threads_;
    std::size_t max_batch_;
    StoreStats* stats_;
    std::mutex state_mutex_;
    std::unique_ptr<State> state_;
};

template <typename Database>
void Executor<Database>::submit(const std::string& key, Job<Connection> job, Kind kind) {
    State& state = current_state();
    std::unique_lock<std::mutex> lock(state.mutex);
    if (state.stopping) throw store_closed_error();
    start_threads(state);
    bool wake_writer = false;
    bool wake_reader = false;
    auto pending = state.pending_writes.find(key);
    if (kind != Kind::Read || (pending != state.pending_writes.end() && pending->second > 0)) {
        if (kind != Kind::Read) ++state.pending_writes[key];
        state.writer_queue.push_back(Queued{key, std::move(job), kind});
        wake_writer = state.writer_idle;
        state.writer_idle = false;
    } else {
        state.reader_queue.push_back(Queued{key, std::move(job), Kind::Read});
        wake_reader = state.idle_readers > 0;
    }
    lock.unlock();
    if (wake_writer) state.writer_ready.notify_one();
    if (wake_reader) state.reader_ready.notify_one();
}

template <typename Database>
void Executor<Database>::finish_writes(State& state, std::vector<Queued>& writes) {
    std::vector<const Step*> steps;
    steps.reserve(writes.size());
    for (auto& write : writes) steps.push_back(&write.job.run);
    const std::vector<std::exception_ptr> errors = database_.run_batch(steps);
    // Figures first, so a caller that sees its completion also sees them.
    if (stats_ != nullptr) stats_->record_batch(writes.size());
    for (auto& write : writes) forget_pending(state, write.key);
    for (std::size_t i = 0; i < writes.size(); ++i) writes[i].job.complete(errors[i]);
    writes.clear();
}

template <typename Database>
void Executor<Database>::forget_pending(State& state, const std::string& key) {
    std::lock_guard<std::mutex> lock(state.mutex);
    auto pending = state.pending_writes.find(key);
    if (pending != state.pending_writes.end() && --pending->second == 0)
        state.pending_writes.erase(pending);
}

template <typename Database>
void Executor<Database>::writer_loop(State& state) {
    std::vector<Queued> taken;
    std::vector<Queued> writes;
    for (;;) {
        {
            std::unique_lock<std::mutex> lock(state.mutex);
            while (!state.stopping && state.writer_queue.empty()) {
                state.writer_idle = true;
                state.became_idle.notify_all();
                state.writer_ready.wait(lock);
            }
            state.writer_idle = false;
            if (state.writer_queue.empty()) return;  // stopping and drained
            const std::size_t count = std::min(max_batch_, state.writer_queue.size());
            for (std::size_t i = 0; i < count; ++i) {
                taken.push_back(std::move(state.writer_queue.front()));
                state.writer_queue.pop_front();
            }
        }
        for (auto& item : taken) {
            if (item.kind == Kind::Write) {
                writes.push_back(std::move(item));
                continue;
            }
            // A read that must see the writes queued before it, or an exclusive job: commit
            // those writes first.
            if (!writes.empty()) finish_writes(state, writes);
            if (item.kind == Kind::Exclusive) {
                const std::exception_ptr error = run_alone(item.job, Kind::Exclusive);
                // Its key is forgotten before it completes, as a write's is: a read submitted
                // once it completed has nothing to wait for on this thread.
                forget_pending(state, item.key);
                item.job.complete(error);
            } else {
                item.job.complete(run_alone(item.job, Kind::Read));
            }
        }
        if (!writes.empty()) finish_writes(state, writes);
        taken.clear();
    }
}

template <typename Database>
void Executor<Database>::reader_loop(State& state) {
    for (;;) {
        Queued item;
        {
            std::unique_lock<std::mutex> lock(state.mutex);
            while (!state.stopping && state.reader_queue.empty()) {
                ++state.idle_readers;
                state.became_idle.notify_all();
                state.reader_ready.wait(lock);
                --state.idle_readers;
            }
            if (state.reader_queue.empty()) return;  // stopping and drained
            item = std::move(state.reader_queue.front());
            state.reader_queue.pop_front();
        }
        item.job.complete(run_alone(item.job, Kind::Read));
    }
}

template <typename Database>
void Executor<Database>::stop_accepting() {
    State* state = live_state();
    if (state == nullptr) return;
    {
        std::lock_guard<std::mutex> lock(state->mutex);
        state->stopping = true;
    }
    state->reader_ready.notify_all();
    state->writer_ready.notify_all();
}

template <typename Database>
bool Executor<Database>::wait_idle(std::chrono::milliseconds timeout) {
    State* state = live_state();
    if (state == nullptr) return true;
    std::unique_lock<std::mutex> lock(state->mutex);
    return state->became_idle.wait_for(lock, timeout, [state] {
        return !state->started ||
               (state->writer_idle && state->writer_queue.empty() && state->reader_queue.empty() &&
                state->idle_readers == static_cast<int>(state->readers.size()));
    });
}

template <typename Database>
void Executor<Database>::shutdown() {
    State* state = live_state();
    if (state == nullptr) return;
    bool own_thread;
    {
        std::lock_guard<std::mutex> lock(state->mutex);
        state->stopping = true;
        own_thread = std::find(state->thread_ids.begin(), state->thread_ids.end(),
                               std::this_thread::get_id()) != state->thread_ids.end();
    }
    state->reader_ready.notify_all();
    state->writer_ready.notify_all();
    // Concurrent callers (close() from two threads, or racing a finalizer) must not join the
    // same thread twice: one joins, the others wait here until it is done. One of our own
    // threads cannot wait for itself; it only joins if nobody else is already joining.
    std::unique_lock<std::mutex> join_lock(state->join_mutex, std::defer_lock);
    if (own_thread) {
        if (!join_lock.try_lock()) return;
    } else {
        join_lock.lock();
    }
    // Joining from one of our own threads would deadlock; the bindings never destroy a store
    // there, but detaching keeps a mistake from calling std::terminate.
    auto finish = [](std::thread& thread) {
        if (!thread.joinable()) return;
        if (thread.get_id() == std::this_thread::get_id())
            thread.detach();
        else
            thread.join();
    };
    finish(state->writer);
    for (auto& reader : state->readers) finish(reader);
}

}  // namespace asap_native
