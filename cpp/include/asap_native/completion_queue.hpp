// Hands finished calls from worker threads to an event loop through one file descriptor.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>

namespace asap_native {

/// A finished call waiting to be handed over. Subclasses carry the result. It is allocated
/// when the call is submitted, so handing it over later never allocates and cannot fail.
class Completion {
public:
    explicit Completion(std::uint64_t id) noexcept : id_(id) {}
    virtual ~Completion() = default;
    Completion(const Completion&) = delete;
    Completion& operator=(const Completion&) = delete;

    /// The identifier the caller was given for this call.
    std::uint64_t id() const noexcept { return id_; }

private:
    friend class CompletionQueue;
    std::uint64_t id_;
    Completion* next_ = nullptr;  // intrusive link: queueing needs no allocation
};

/// Figures of one completion queue: how well completions were batched.
struct CompletionQueueStats {
    std::uint64_t pushed = 0;   ///< completions handed over
    std::uint64_t wakeups = 0;  ///< times the file descriptor was signalled
    std::uint64_t drains = 0;   ///< drain() calls that found work
};

/// A queue of finished calls that keeps one file descriptor (an eventfd, or a pipe where there
/// is none) readable exactly while it holds completions. It signals when it goes from empty to
/// non-empty, so an event loop watching the descriptor wakes once per batch, not per result;
/// and a drain that leaves completions behind signals again, so nothing queued can ever sit
/// without a wake-up, whatever the consumer does with what it took. push() is safe from any
/// thread and never fails; drain() and push_front() belong to the one thread that watches fd().
class CompletionQueue {
public:
    /// Completions taken by one drain(), in push order; deletes what it still owns.
    class Batch {
    public:
        Batch() = default;
        Batch(Batch&& other) noexcept;
        Batch& operator=(Batch&& other) noexcept;
        ~Batch();
        /// The oldest completion left (still owned by the batch), or null when it is empty.
        const Completion* front() const noexcept { return head_; }
        /// Removes and returns the oldest completion, or null when the batch is empty.
        std::unique_ptr<Completion> pop_front() noexcept;
        std::size_t size() const noexcept { return size_; }
        bool empty() const noexcept { return size_ == 0; }

    private:
        friend class CompletionQueue;
        Completion* head_ = nullptr;
        Completion* tail_ = nullptr;
        std::size_t size_ = 0;
    };

    /// Opens the descriptor; throws std::system_error when the OS refuses.
    CompletionQueue();
    ~CompletionQueue();
    CompletionQueue(const CompletionQueue&) = delete;
    CompletionQueue& operator=(const CompletionQueue&) = delete;

    /// The descriptor to watch for readability (e.g. with loop.add_reader).
    int fd() const noexcept { return read_fd_; }

    /// A fresh identifier for a call whose completion will come through this queue.
    std::uint64_t next_id() noexcept;

    /// Appends a finished call; signals the descriptor if the queue was empty. Null is ignored.
    void push(std::unique_ptr<Completion> completion) noexcept;

    /// Takes up to `max_items` completions, oldest first. The descriptor stays signalled if
    /// any are left behind, and is cleared otherwise.
    Batch drain(std::size_t max_items = SIZE_MAX) noexcept;

    /// Puts completions a consumer took but could not hand over back at the front, in order,
    /// and signals: a consumer that fails part-way loses nothing.
    void push_front(Batch batch) noexcept;

    /// Completions waiting.
    std::size_t size() const noexcept;

    /// Batching figures so far.
    CompletionQueueStats stats() const noexcept;

private:
    void signal() noexcept;
    void clear_signal() noexcept;

    int read_fd_ = -1;
    int write_fd_ = -1;
    std::atomic<std::uint64_t> next_id_{1};
    mutable std::mutex mutex_;
    Batch items_;
    CompletionQueueStats stats_;
};

}  // namespace asap_native
