// Connections opened on demand up to a bound, leased one call at a time and kept for reuse:
// the readers of a SQLite file and the connections of a PostgreSQL store.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "asap_native/errors.hpp"

namespace asap_native {

/// The idle connections of a pool and how many are open. Thread-safe. What a connection is,
/// how one is opened and whether an idle one can still be used is the caller's to say.
template <typename Connection>
class ConnectionPool {
public:
    using Owned = std::unique_ptr<Connection>;
    using Clock = std::chrono::steady_clock;

    /// What acquire() waits for when every connection is leased: a deadline (StoreError
    /// Timeout with `message` once it passes) or none.
    struct Patience {
        std::optional<Clock::time_point> deadline;
        const char* message = "";  // a literal: built on every lease, so never allocated
    };

    /// A connection leased for a scope: given back when the scope ends, and kept for the next
    /// call unless `keep_if` (asked then) refuses it.
    class Lease {
    public:
        Lease(ConnectionPool& pool, Owned connection,
              std::function<bool(Connection&)> keep_if = nullptr)
            : pool_(pool), connection_(std::move(connection)), keep_if_(std::move(keep_if)) {}
        ~Lease() {
            const bool keep = !keep_if_ || keep_if_(*connection_);
            pool_.release(std::move(connection_), keep);
        }
        Lease(const Lease&) = delete;
        Lease& operator=(const Lease&) = delete;
        Connection& connection() { return *connection_; }

    private:
        ConnectionPool& pool_;
        Owned connection_;
        std::function<bool(Connection&)> keep_if_;
    };

    /// A connection for one call: an idle one `usable` accepts (one it refuses is dropped),
    /// else a new one from `open()` while fewer than `max_open` are open, else the next one
    /// returned. Throws StoreError(Closed) once `closed` is set, and what `open` throws.
    template <typename Open, typename Usable>
    Owned acquire(const std::atomic<bool>& closed, int max_open, Open&& open, Usable&& usable,
                  const Patience& patience = {}) {
        std::unique_lock<std::mutex> lock(mutex_);
        for (;;) {
            if (closed.load()) throw store_closed_error();
            if (!idle_.empty()) {
                Owned connection = std::move(idle_.back());
                idle_.pop_back();
                lock.unlock();
                if (usable(*connection)) return connection;
                connection.reset();
                lock.lock();
                --open_;
                continue;
            }
            if (open_ < max_open) {
                ++open_;
                lock.unlock();
                try {
                    return open();
                } catch (...) {
                    lock.lock();
                    --open_;
                    returned_.notify_one();
                    throw;
                }
            }
            if (!patience.deadline) {
                returned_.wait(lock);
            } else if (returned_.wait_until(lock, *patience.deadline) == std::cv_status::timeout &&
                       idle_.empty() && open_ >= max_open) {
                throw StoreError(StoreErrorKind::Timeout, patience.message, "");
            }
        }
    }

    /// Gives back a leased connection: kept for the next call when `reuse`, else closed.
    void release(Owned connection, bool reuse) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (reuse) {
            idle_.push_back(std::move(connection));
        } else {
            connection.reset();
            --open_;
        }
        returned_.notify_all();
    }

    /// Adds a connection opened by the caller (the first one, opened to fail early).
    void add_idle(Owned connection) {
        std::lock_guard<std::mutex> lock(mutex_);
        idle_.push_back(std::move(connection));
        ++open_;
    }

    /// Waits for every leased connection to come back, then closes them all. Set the caller's
    /// `closed` flag first, so no new lease starts meanwhile.
    void close_all() {
        std::unique_lock<std::mutex> lock(mutex_);
        returned_.wait(lock, [&] { return open_ == static_cast<int>(idle_.size()); });
        idle_.clear();
        open_ = 0;
    }

    /// Connections open now, idle and leased.
    int open_count() {
        std::lock_guard<std::mutex> lock(mutex_);
        return open_;
    }

    /// fork() support. `lock_for_fork` takes the pool's lock if it is free and reports
    /// whether it did and no connection was leased; `unlock_after_fork` releases it.
    bool lock_for_fork(bool& locked) {
        locked = mutex_.try_lock();
        return locked && open_ == static_cast<int>(idle_.size());
    }
    void unlock_after_fork() { mutex_.unlock(); }
    /// In a forked child whose pool was idle at fork(), with the lock still held: hands
    /// every inherited connection to `forget` (which closes or abandons it).
    template <typename Forget>
    void forget_all(Forget&& forget) {
        for (Owned& connection : idle_) forget(std::move(connection));
        idle_.clear();
        open_ = 0;
    }

private:
    std::mutex mutex_;
    std::condition_variable returned_;
    std::vector<Owned> idle_;
    int open_ = 0;  // idle and leased
};

}  // namespace asap_native
