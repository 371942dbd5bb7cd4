#include "asap_native/completion_queue.hpp"

#include <fcntl.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif

#include <cerrno>
#include <system_error>
#include <utility>

namespace asap_native {

CompletionQueue::Batch::Batch(Batch&& other) noexcept
    : head_(std::exchange(other.head_, nullptr)),
      tail_(std::exchange(other.tail_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

CompletionQueue::Batch& CompletionQueue::Batch::operator=(Batch&& other) noexcept {
    if (this != &other) {
        Batch discarded(std::move(*this));
        head_ = std::exchange(other.head_, nullptr);
        tail_ = std::exchange(other.tail_, nullptr);
        size_ = std::exchange(other.size_, 0);
    }
    return *this;
}

CompletionQueue::Batch::~Batch() {
    while (pop_front()) {
    }
}

std::unique_ptr<Completion> CompletionQueue::Batch::pop_front() noexcept {
    Completion* first = head_;
    if (first == nullptr) return nullptr;
    head_ = first->next_;
    if (head_ == nullptr) tail_ = nullptr;
    first->next_ = nullptr;
    --size_;
    return std::unique_ptr<Completion>(first);
}

CompletionQueue::CompletionQueue() {
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

CompletionQueue::~CompletionQueue() {
    ::close(read_fd_);
    if (write_fd_ != read_fd_) ::close(write_fd_);
}

std::uint64_t CompletionQueue::next_id() noexcept {
    return next_id_.fetch_add(1, std::memory_order_relaxed);
}

void CompletionQueue::push(std::unique_ptr<Completion> completion) noexcept {
    if (!completion) return;
    Completion* node = completion.release();
    bool was_empty;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        was_empty = items_.empty();
        if (was_empty)
            items_.head_ = node;
        else
            items_.tail_->next_ = node;
        items_.tail_ = node;
        ++items_.size_;
        ++stats_.pushed;
        if (was_empty) ++stats_.wakeups;
    }
    if (was_empty) signal();
}

CompletionQueue::Batch CompletionQueue::drain(std::size_t max_items) noexcept {
    // Cleared before taking: a push after this point finds the queue empty and signals anew.
    clear_signal();
    Batch taken;
    bool left_behind;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        while (taken.size_ < max_items && items_.head_ != nullptr) {
            Completion* node = items_.head_;
            items_.head_ = node->next_;
            --items_.size_;
            node->next_ = nullptr;
            if (taken.tail_ == nullptr)
                taken.head_ = node;
            else
                taken.tail_->next_ = node;
            taken.tail_ = node;
            ++taken.size_;
        }
        if (items_.head_ == nullptr) items_.tail_ = nullptr;
        left_behind = !items_.empty();
        if (!taken.empty()) ++stats_.drains;
    }
    if (left_behind) signal();
    return taken;
}

void CompletionQueue::push_front(Batch batch) noexcept {
    if (batch.empty()) return;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        batch.tail_->next_ = items_.head_;
        if (items_.tail_ == nullptr) items_.tail_ = batch.tail_;
        items_.head_ = batch.head_;
        items_.size_ += batch.size_;
        batch.head_ = batch.tail_ = nullptr;
        batch.size_ = 0;
    }
    signal();
}

std::size_t CompletionQueue::size() const noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    return items_.size();
}

CompletionQueueStats CompletionQueue::stats() const noexcept {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
}

void CompletionQueue::signal() noexcept {
    const std::uint64_t one = 1;
    // EAGAIN means the counter/pipe is already signalled: nothing lost.
    ssize_t written;
    do {
        written = ::write(write_fd_, &one, sizeof one);
    } while (written < 0 && errno == EINTR);
}

void CompletionQueue::clear_signal() noexcept {
    std::uint64_t buffer[16];
    for (;;) {
        const ssize_t got = ::read(read_fd_, buffer, sizeof buffer);
        if (got < 0 && errno == EINTR) continue;
#ifdef __linux__
        break;  // one read resets an eventfd counter
#else
        if (got <= 0) break;
#endif
    }
}

}  // namespace asap_native
