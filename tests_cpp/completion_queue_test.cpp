// CompletionQueue: one signal per batch, drain order, descriptor flags, and no lost item or
// lost wake-up when producers push while the consumer drains.
#include "asap_native/completion_queue.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace asap_native {
namespace {

/// True when the descriptor is readable within `timeout_ms` (0: right now).
bool readable(int fd, int timeout_ms = 0) {
    pollfd entry{fd, POLLIN, 0};
    int rc;
    do {
        rc = ::poll(&entry, 1, timeout_ms);
    } while (rc < 0 && errno == EINTR);
    return rc == 1 && (entry.revents & POLLIN) != 0;
}

TEST(CompletionQueueTest, SignalsOnlyWhenSomethingIsQueued) {
    CompletionQueue<int> queue;
    EXPECT_FALSE(readable(queue.fd()));
    EXPECT_TRUE(queue.drain().empty());
    EXPECT_EQ(queue.stats().drains, 0u);  // an empty drain does not count
    queue.push(1);
    EXPECT_TRUE(readable(queue.fd()));
    EXPECT_EQ(queue.drain(), std::vector<int>{1});
    EXPECT_FALSE(readable(queue.fd()));
}

TEST(CompletionQueueTest, BoundedDrainLeavesTheRestInOrder) {
    CompletionQueue<int> queue;
    for (int i = 0; i < 40; ++i) queue.push(i);
    EXPECT_EQ(queue.drain(16), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
                                                 14, 15}));
    // What is left does not signal again: the caller that got a full batch drains again.
    EXPECT_FALSE(readable(queue.fd()));
    queue.push(40);  // the queue was not empty, so no new signal either
    EXPECT_FALSE(readable(queue.fd()));
    EXPECT_EQ(queue.drain(16).front(), 16);
    const std::vector<int> rest = queue.drain(16);
    ASSERT_EQ(rest.size(), 9u);
    EXPECT_EQ(rest.back(), 40);
    EXPECT_TRUE(queue.drain(16).empty());
    EXPECT_EQ(queue.stats().wakeups, 1u);
}

TEST(CompletionQueueTest, OneWakeupPerBatchAndItemsInPushOrder) {
    CompletionQueue<int> queue;
    for (int i = 0; i < 100; ++i) queue.push(i);
    CompletionQueueStats stats = queue.stats();
    EXPECT_EQ(stats.pushed, 100u);
    EXPECT_EQ(stats.wakeups, 1u);
    const std::vector<int> first = queue.drain();
    ASSERT_EQ(first.size(), 100u);
    for (int i = 0; i < 100; ++i) EXPECT_EQ(first[i], i);
    EXPECT_FALSE(readable(queue.fd()));

    for (int i = 0; i < 10; ++i) queue.push(100 + i);
    stats = queue.stats();
    EXPECT_EQ(stats.pushed, 110u);
    EXPECT_EQ(stats.wakeups, 2u);
    EXPECT_EQ(queue.drain().size(), 10u);
    EXPECT_EQ(queue.stats().drains, 2u);
}

TEST(CompletionQueueTest, DescriptorIsNonBlockingAndCloseOnExec) {
    CompletionQueue<int> queue;
    EXPECT_TRUE(::fcntl(queue.fd(), F_GETFL) & O_NONBLOCK);
    EXPECT_TRUE(::fcntl(queue.fd(), F_GETFD) & FD_CLOEXEC);
}

TEST(CompletionQueueTest, DescriptorIsClosedWithTheQueue) {
    int fd;
    {
        CompletionQueue<int> queue;
        fd = queue.fd();
        queue.push(1);  // left undrained
    }
    errno = 0;
    EXPECT_EQ(::fcntl(fd, F_GETFD), -1);
    EXPECT_EQ(errno, EBADF);
}

TEST(CompletionQueueTest, HoldsMoveOnlyItems) {
    CompletionQueue<std::unique_ptr<std::string>> queue;
    queue.push(std::make_unique<std::string>("a"));
    queue.push(std::make_unique<std::string>("b"));
    auto items = queue.drain();
    ASSERT_EQ(items.size(), 2u);
    EXPECT_EQ(*items[0], "a");
    EXPECT_EQ(*items[1], "b");
}

TEST(CompletionQueueTest, IdsAreUniqueAcrossThreads) {
    CompletionQueue<int> queue;
    constexpr int kThreads = 4;
    constexpr int kPerThread = 10000;
    std::vector<std::vector<std::uint64_t>> ids(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < kPerThread; ++i) ids[t].push_back(queue.next_id());
        });
    for (auto& thread : threads) thread.join();
    std::set<std::uint64_t> all;
    for (const auto& some : ids) all.insert(some.begin(), some.end());
    EXPECT_EQ(all.size(), std::size_t{kThreads * kPerThread});
    EXPECT_EQ(all.count(0), 0u);  // 0 is never handed out
}

// Producers push while one consumer waits on the descriptor and drains, as an event loop
// does. A lost wake-up shows up as a poll() that times out with items still missing.
TEST(CompletionQueueTest, ConcurrentPushesAndDrainsLoseNothing) {
    CompletionQueue<std::pair<int, int>> queue;
    constexpr int kProducers = 4;
    constexpr int kPerProducer = 20000;
    constexpr int kTotal = kProducers * kPerProducer;
    std::atomic<bool> go{false};
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p)
        producers.emplace_back([&, p] {
            while (!go.load()) std::this_thread::yield();
            for (int i = 0; i < kPerProducer; ++i) {
                queue.push({p, i});
                if (i % 512 == 0) std::this_thread::yield();
            }
        });

    std::vector<int> next(kProducers, 0);
    int received = 0;
    int empty_wakeups = 0;
    bool lost_wakeup = false;
    bool out_of_order = false;
    go = true;
    while (received < kTotal) {
        // Generous: only a wake-up that never comes can exhaust it.
        if (!readable(queue.fd(), 30000)) {
            lost_wakeup = true;
            break;
        }
        const auto items = queue.drain();
        if (items.empty()) ++empty_wakeups;
        for (const auto& [producer, seq] : items) {
            if (seq != next[producer]) out_of_order = true;
            next[producer] = seq + 1;
            ++received;
        }
    }
    for (auto& producer : producers) producer.join();
    // A final drain after the producers are done.
    for (const auto& item : queue.drain()) {
        (void)item;
        ++received;
    }
    EXPECT_FALSE(lost_wakeup) << "waited 30 s for a signal with " << (kTotal - received)
                              << " items missing";
    EXPECT_FALSE(out_of_order);
    EXPECT_EQ(received, kTotal);
    for (int p = 0; p < kProducers; ++p) EXPECT_EQ(next[p], kPerProducer) << p;

    const CompletionQueueStats stats = queue.stats();
    EXPECT_EQ(stats.pushed, std::uint64_t{kTotal});
    // Each empty-to-non-empty transition signals once and is emptied by exactly one drain.
    EXPECT_EQ(stats.drains, stats.wakeups);
    EXPECT_LE(stats.wakeups, stats.pushed);
    EXPECT_FALSE(readable(queue.fd()));
    std::printf("[ figures  ] %llu pushes, %llu wake-ups, %d empty wake-ups\n",
                static_cast<unsigned long long>(stats.pushed),
                static_cast<unsigned long long>(stats.wakeups), empty_wakeups);
}

// Drains racing a push must never leave an item behind without a signal: after every
// round the queue is either signalled or empty.
TEST(CompletionQueueTest, NoItemIsLeftWithoutASignal) {
    CompletionQueue<int> queue;
    for (int round = 0; round < 2000; ++round) {
        std::thread producer([&] { queue.push(round); });
        std::vector<int> got = queue.drain();
        producer.join();
        if (got.empty()) {
            ASSERT_TRUE(readable(queue.fd())) << "round " << round << ": item without signal";
            got = queue.drain();
        }
        ASSERT_EQ(got, std::vector<int>{round});
        ASSERT_TRUE(queue.drain().empty());
    }
    EXPECT_EQ(queue.stats().pushed, 2000u);
}

}  // namespace
}  // namespace asap_native
