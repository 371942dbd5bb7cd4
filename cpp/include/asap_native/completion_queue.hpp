// Hands results from worker threads to an event loop through one file descriptor.
#pragma once

#include <fcntl.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

#include <atomic>
#include <cerrno>
#include <algorithm>
#include <cstdint>
#include <deque>
#include <mutex>
#include <system_error>
#include <vector>

namespace asap_native {

/// Figures of one completion queue: how well completions were batched.
struct CompletionQueueStats {
    std::uint64_t pushed = 0;   ///< completions handed over
    std::uint64_t wakeups = 0;  ///< times the file descriptor was signalled
    std::uint64_t drains = 0;   ///< drain() calls that found work
};

/// A queue of completed results that signals a file descriptor (an eventfd, or a pipe where
/// there is none) only when it goes from empty to non-empty, so an event loop watching the
/// descriptor wakes once per batch, not once per result. push() is safe from any thread;
/// drain() belongs to the one thread that watches fd().
template <typename Item>
class CompletionQueue {
public:
    /// Opens the descriptor; throws std::system_error when the OS refuses.
    CompletionQueue() {
#ifdef __linux__
        read_fd_ = write_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (read_fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
#else
        int fds[2];
        if (::pipe(fds) != 0) throw std::system_error(errno, std::generic_category(), "pipe");
        for (int fd : fds) {
            ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
            ::fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
        read_fd_ = fds[0];
        write_fd_ = fds[1];
#endif
    }
    ~CompletionQueue() {
        ::close(read_fd_);
        if (write_fd_ != read_fd_) ::close(write_fd_);
    }
    CompletionQueue(const CompletionQueue&) = delete;
    CompletionQueue& operator=(const CompletionQueue&) = delete;

    /// The descriptor to watch for readability (e.g. with loop.add_reader).
    int fd() const noexcept { return read_fd_; }

    /// A fresh identifier for a request whose completion will come through this queue.
    std::uint64_t next_id() noexcept { return next_id_.fetch_add(1, std::memory_order_relaxed); }

    /// Adds a completed item; signals the descriptor if the queue was empty. Never throws
    /// except for std::bad_alloc.
    void push(Item item) {
        bool was_empty;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            was_empty = items_.empty();
            items_.push_back(std::move(item));
            ++stats_.pushed;
            if (was_empty) ++stats_.wakeups;
        }
        if (was_empty) signal();
    }

    /// Clears the signal, then takes up to `max_items` queued items (in push order). Items
    /// left behind do not signal again: a caller that got `max_items` must call again.
    std::vector<Item> drain(std::size_t max_items = SIZE_MAX) {
        clear_signal();  // first: a push after this point signals again
        std::vector<Item> taken;
        std::lock_guard<std::mutex> lock(mutex_);
        const std::size_t count = std::min(max_items, items_.size());
        taken.reserve(count);
        for (std::size_t i = 0; i < count; ++i) {
            taken.push_back(std::move(items_.front()));
            items_.pop_front();
        }
        if (!taken.empty()) ++stats_.drains;
        return taken;
    }

    /// Batching figures so far.
    CompletionQueueStats stats() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return stats_;
    }

private:
    void signal() noexcept {
        const std::uint64_t one = 1;
        // EAGAIN means the counter/pipe is already signalled: nothing lost.
        ssize_t written;
        do {
            written = ::write(write_fd_, &one, sizeof one);
        } while (written < 0 && errno == EINTR);
    }
    void clear_signal() noexcept {
        std::uint64_t buffer[16];
        while (::read(read_fd_, buffer, sizeof buffer) > 0 || errno == EINTR) {
#ifdef __linux__
            break;  // one read resets an eventfd counter
#endif
        }
    }

    int read_fd_ = -1;
    int write_fd_ = -1;
    std::atomic<std::uint64_t> next_id_{1};
    mutable std::mutex mutex_;
    std::deque<Item> items_;
    CompletionQueueStats stats_;
};

}  // namespace asap_native
