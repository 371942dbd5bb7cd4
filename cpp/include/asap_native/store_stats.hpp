// Counters and latency percentiles of one store, cheap enough to keep always on.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <string>
#include <type_traits>

namespace asap_native {

/// The operations a store counts.
enum class StoreOperation {
    Save,
    Get,
    ListVersions,
    Delete,
    Record,
    Query,
    Aggregate,
    Execute,      ///< a statement that writes (SQL repositories)
    Fetch,        ///< a statement that reads (SQL repositories)
    Script,       ///< several statements run as a script (SQL repositories)
    Transaction,  ///< a transaction holding the writer connection (SQL repositories)
    Prune,        ///< one step of a retention rule (maintenance)
    Backup,       ///< an online copy of the database (maintenance)
    Check,        ///< an integrity or schema check, or the figures of a file (maintenance)
};
inline constexpr std::size_t kStoreOperationCount = 14;

/// "save", "get", "list_versions", "delete", "record", "query", "aggregate", "execute",
/// "fetch", "script", "transaction", "prune", "backup", "check".
const char* operation_name(StoreOperation operation) noexcept;

/// A lock-free histogram of non-negative values (log-scale buckets, 4 per power of two, so a
/// percentile is exact to within 19%).
class Histogram {
public:
    /// Adds one value.
    void add(std::uint64_t value) noexcept;
    /// The value below which a fraction `q` (0..1) of the values lie (a bucket's upper bound).
    std::uint64_t percentile(double q) const noexcept;
    /// Values added so far.
    std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
    /// Largest value added.
    std::uint64_t max() const noexcept { return max_.load(std::memory_order_relaxed); }

private:
    static constexpr std::size_t kBuckets = 4 * 64;
    static std::size_t bucket_of(std::uint64_t value) noexcept;
    static std::uint64_t upper_bound_of(std::size_t bucket) noexcept;

    std::array<std::atomic<std::uint64_t>, kBuckets> buckets_{};
    std::atomic<std::uint64_t> count_{0};
    std::atomic<std::uint64_t> max_{0};
};

/// Figures of one operation kind.
struct OperationFigures {
    std::uint64_t count = 0;   ///< calls that completed, successfully or not
    std::uint64_t errors = 0;  ///< calls that failed
    std::uint64_t latency_p50_ns = 0;
    std::uint64_t latency_p99_ns = 0;
    std::uint64_t latency_max_ns = 0;
};

/// A copy of a store's figures at one moment.
struct StoreFigures {
    std::array<OperationFigures, kStoreOperationCount> operations{};
    std::map<std::string, std::uint64_t> errors_by_kind;  ///< "busy", "invalid_argument"...
    std::uint64_t busy_waits = 0;  ///< calls that had to wait for another connection's lock
    std::uint64_t batches = 0;     ///< group commits
    std::uint64_t batched_writes = 0;
    std::uint64_t batch_size_p50 = 0;
    std::uint64_t batch_size_p99 = 0;
    std::uint64_t batch_size_max = 0;
};

/// The figures of one store: operations by kind with latency percentiles, errors by kind,
/// busy waits and group-commit batch sizes. Thread-safe and lock-free.
class StoreStats {
public:
    /// Records one finished call of `operation`; `error` is null on success.
    void record(StoreOperation operation, std::chrono::nanoseconds elapsed,
                const std::exception_ptr& error) noexcept;
    /// Records that a call waited for a lock held by another connection.
    void record_busy_wait() noexcept { busy_waits_.fetch_add(1, std::memory_order_relaxed); }
    /// Records one group commit of `size` writes.
    void record_batch(std::size_t size) noexcept {
        batch_sizes_.add(size);
        batched_writes_.fetch_add(size, std::memory_order_relaxed);
    }
    /// The counter a connection's busy handler increments.
    std::atomic<std::uint64_t>* busy_wait_counter() noexcept { return &busy_waits_; }
    /// A consistent-enough copy of every figure (each counter is read atomically).
    StoreFigures figures() const;

    /// Runs `work`, recording its latency and outcome under `operation`; rethrows its error.
    template <typename Work>
    auto measure(StoreOperation operation, Work&& work) -> decltype(work()) {
        const auto start = std::chrono::steady_clock::now();
        try {
            if constexpr (std::is_void_v<decltype(work())>) {
                work();
                record(operation, std::chrono::steady_clock::now() - start, nullptr);
            } else {
                auto result = work();
                record(operation, std::chrono::steady_clock::now() - start, nullptr);
                return result;
            }
        } catch (...) {
            record(operation, std::chrono::steady_clock::now() - start, std::current_exception());
            throw;
        }
    }

    /// Records the outcome of a call that completes later: passes `submit` a callback to run
    /// on completion (with null or the error); if `submit` throws, records the error at once.
    using Completion = std::function<void(const std::exception_ptr&)>;
    template <typename Submit>
    void measure_submission(StoreOperation operation, Submit&& submit) {
        const auto start = std::chrono::steady_clock::now();
        try {
            submit(Completion([this, operation, start](const std::exception_ptr& error) {
                record(operation, std::chrono::steady_clock::now() - start, error);
            }));
        } catch (...) {
            record(operation, std::chrono::steady_clock::now() - start, std::current_exception());
            throw;
        }
    }

private:
    enum ErrorKind {
        kInvalidArgument,
        kBusy,  // from here on, in StoreErrorKind's order
        kReadOnly,
        kNotADatabase,
        kCantOpen,
        kIO,
        kClosed,
        kInvalidData,
        kConnection,
        kAuthentication,
        kTimeout,
        kOther,
        kErrorKinds
    };
    static ErrorKind classify(const std::exception_ptr& error) noexcept;

    struct PerOperation {
        std::atomic<std::uint64_t> errors{0};
        Histogram latency_ns;
    };
    std::array<PerOperation, kStoreOperationCount> operations_;
    std::array<std::atomic<std::uint64_t>, kErrorKinds> errors_{};
    std::atomic<std::uint64_t> busy_waits_{0};
    std::atomic<std::uint64_t> batched_writes_{0};
    Histogram batch_sizes_;
};

}  // namespace asap_native
