#include "asap_native/store_stats.hpp"

#include <algorithm>
#include <array>

#include "asap_native/errors.hpp"

namespace asap_native {

namespace {

// In StoreOperation's order; a name left out of a grown enum fails the static_assert.
constexpr std::array<const char*, kStoreOperationCount> kOperationNames = {
    "save",    "get",   "list_versions", "delete",      "record", "query",  "aggregate",
    "execute", "fetch", "script",        "transaction", "prune",  "backup", "check",
};
static_assert(kOperationNames.back() != nullptr, "a StoreOperation has no name");

}  // namespace

const char* operation_name(StoreOperation operation) noexcept {
    const auto index = static_cast<std::size_t>(operation);
    return index < kOperationNames.size() ? kOperationNames[index] : "unknown";
}

std::size_t Histogram::bucket_of(std::uint64_t value) noexcept {
    if (value < 4) return static_cast<std::size_t>(value);
    const int top = 63 - __builtin_clzll(value);  // index of the highest set bit, >= 2
    const auto sub = static_cast<std::size_t>((value >> (top - 2)) & 3);
    return std::min<std::size_t>(kBuckets - 1, static_cast<std::size_t>(top - 1) * 4 + sub);
}

std::uint64_t Histogram::upper_bound_of(std::size_t bucket) noexcept {
    if (bucket < 4) return bucket;
    const std::size_t top = bucket / 4 + 1;
    const std::uint64_t sub = bucket % 4;
    if (top >= 63) return UINT64_MAX;
    return ((4 + sub + 1) << (top - 2)) - 1;
}

void Histogram::add(std::uint64_t value) noexcept {
    buckets_[bucket_of(value)].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    std::uint64_t seen = max_.load(std::memory_order_relaxed);
    while (value > seen && !max_.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
    }
}

std::uint64_t Histogram::percentile(double q) const noexcept {
    std::uint64_t total = 0;
    std::array<std::uint64_t, kBuckets> counts;
    for (std::size_t i = 0; i < kBuckets; ++i) {
        counts[i] = buckets_[i].load(std::memory_order_relaxed);
        total += counts[i];
    }
    if (total == 0) return 0;
    const auto rank =
        static_cast<std::uint64_t>(std::clamp(q, 0.0, 1.0) * static_cast<double>(total - 1)) + 1;
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
        seen += counts[i];
        if (seen >= rank) return std::min(upper_bound_of(i), max());
    }
    return max();
}

StoreStats::ErrorKind StoreStats::classify(const std::exception_ptr& error) noexcept {
    try {
        std::rethrow_exception(error);
    } catch (const InvalidArgument&) {
        return kInvalidArgument;
    } catch (const StoreError& e) {
        // kBusy..kOther follow StoreErrorKind's order.
        static_assert(kOther - kBusy == static_cast<int>(StoreErrorKind::Other));
        return static_cast<ErrorKind>(kBusy + static_cast<int>(e.kind()));
    } catch (...) {
    }
    return kOther;
}

void StoreStats::record(StoreOperation operation, std::chrono::nanoseconds elapsed,
                        const std::exception_ptr& error) noexcept {
    PerOperation& figures = operations_[static_cast<std::size_t>(operation)];
    figures.latency_ns.add(static_cast<std::uint64_t>(std::max<std::int64_t>(0, elapsed.count())));
    if (error) {
        figures.errors.fetch_add(1, std::memory_order_relaxed);
        errors_[classify(error)].fetch_add(1, std::memory_order_relaxed);
    }
}

StoreFigures StoreStats::figures() const {
    static constexpr const char* kErrorNames[kErrorKinds] = {
        "invalid_argument", "busy",         "read_only",  "not_a_database", "cant_open", "io",
        "closed",           "invalid_data", "connection", "authentication", "timeout",   "other"};
    StoreFigures out;
    for (std::size_t i = 0; i < kStoreOperationCount; ++i) {
        const PerOperation& figures = operations_[i];
        OperationFigures& target = out.operations[i];
        target.count = figures.latency_ns.count();
        target.errors = figures.errors.load(std::memory_order_relaxed);
        target.latency_p50_ns = figures.latency_ns.percentile(0.50);
        target.latency_p99_ns = figures.latency_ns.percentile(0.99);
        target.latency_max_ns = figures.latency_ns.max();
    }
    for (int kind = 0; kind < kErrorKinds; ++kind)
        out.errors_by_kind[kErrorNames[kind]] = errors_[kind].load(std::memory_order_relaxed);
    out.busy_waits = busy_waits_.load(std::memory_order_relaxed);
    out.batches = batch_sizes_.count();
    out.batched_writes = batched_writes_.load(std::memory_order_relaxed);
    out.batch_size_p50 = batch_sizes_.percentile(0.50);
    out.batch_size_p99 = batch_sizes_.percentile(0.99);
    out.batch_size_max = batch_sizes_.max();
    return out;
}

}  // namespace asap_native
