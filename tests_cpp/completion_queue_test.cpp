// CompletionQueue: one signal per batch, the descriptor readable exactly while completions
// wait, drain order, push_front after a failed hand-over, descriptor flags, and no lost item
// or lost wake-up when producers push while the consumer drains.
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

#include "test_support.hpp"

namespace asap_native {
namespace {

using testing::run_threads;

/// True when the descriptor is readable within `timeout_ms` (0: right now).
bool readable(int fd, int timeout_ms = 0) {
    pollfd entry{fd, POLLIN, 0};
    int rc;
    do {
        rc = ::poll(&entry, 1, timeout_ms);
    } while (rc < 0 && errno == EINTR);
    return rc == 1 && (entry.revents & POLLIN) != 0;
}

/// A completion carrying an int (its id is the value, for short tests).
struct Item final : Completion {
    explicit Item(int item_value, int item_producer = 0)
        : Completion(static_cast<std::uint64_t>(item_value)),
          value(item_value),
          producer(item_producer) {}
    int value;
    int producer;
};

/// Counts live items, to prove the queue and its batches delete what they own.
std::atomic<int> live_items{0};
struct Counted final : Completion {
    Counted() : Completion(0) { ++live_items; }
    ~Counted() override { --live_items; }
};

void push(CompletionQueue& queue, int value, int producer = 0) {
    queue.push(std::make_unique<Item>(value, producer));
}

std::vector<int> values(CompletionQueue::Batch batch) {
    std::vector<int> out;
    while (auto completion = batch.pop_front())
        out.push_back(static_cast<Item&>(*completion).value);
    return out;
}

std::vector<int> drain_values(CompletionQueue& queue, std::size_t max_items = SIZE_MAX) {
    return values(queue.drain(max_items));
}

TEST(CompletionQueueTest, SignalsOnlyWhenSomethingIsQueued) {
    CompletionQueue queue;
    EXPECT_FALSE(readable(queue.fd()));
    EXPECT_TRUE(queue.drain().empty());
    EXPECT_EQ(queue.stats().drains, 0u);  // an empty drain does not count
    push(queue, 1);
    EXPECT_TRUE(readable(queue.fd()));
    EXPECT_EQ(drain_values(queue), std::vector<int>{1});
    EXPECT_FALSE(readable(queue.fd()));
}

TEST(CompletionQueueTest, BoundedDrainLeavesTheRestInOrderAndSignalled) {
    CompletionQueue queue;
    for (int i = 0; i < 40; ++i) push(queue, i);
    EXPECT_EQ(drain_values(queue, 16),
              (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}));
    // What is left keeps the descriptor readable: whatever the consumer does with what it
    // took, the loop wakes again for the rest.
    EXPECT_TRUE(readable(queue.fd()));
    push(queue, 40);
    EXPECT_EQ(drain_values(queue, 16).front(), 16);
    EXPECT_TRUE(readable(queue.fd()));
    const std::vector<int> rest = drain_values(queue, 16);
    ASSERT_EQ(rest.size(), 9u);
    EXPECT_EQ(rest.back(), 40);
    EXPECT_FALSE(readable(queue.fd()));
    EXPECT_TRUE(queue.drain(16).empty());
    EXPECT_EQ(queue.stats().wakeups, 1u);  // one empty-to-non-empty transition
}

TEST(CompletionQueueTest, OneWakeupPerBatchAndItemsInPushOrder) {
    CompletionQueue queue;
    for (int i = 0; i < 100; ++i) push(queue, i);
    CompletionQueueStats stats = queue.stats();
    EXPECT_EQ(stats.pushed, 100u);
    EXPECT_EQ(stats.wakeups, 1u);
    const std::vector<int> first = drain_values(queue);
    ASSERT_EQ(first.size(), 100u);
    for (int i = 0; i < 100; ++i) EXPECT_EQ(first[i], i);
    EXPECT_FALSE(readable(queue.fd()));

    for (int i = 0; i < 10; ++i) push(queue, 100 + i);
    stats = queue.stats();
    EXPECT_EQ(stats.pushed, 110u);
    EXPECT_EQ(stats.wakeups, 2u);
    EXPECT_EQ(drain_values(queue).size(), 10u);
    EXPECT_EQ(queue.stats().drains, 2u);
}

TEST(CompletionQueueTest, PushFrontPutsUnhandedCompletionsBackFirstAndSignals) {
    CompletionQueue queue;
    for (int i = 0; i < 6; ++i) push(queue, i);
    CompletionQueue::Batch batch = queue.drain(4);  // 0..3 taken, 4 and 5 left
    ASSERT_EQ(batch.size(), 4u);
    EXPECT_EQ(static_cast<const Item*>(batch.front())->value, 0);
    auto handed = batch.pop_front();  // 0 handed over; 1..3 were not
    push(queue, 6);
    EXPECT_EQ(drain_values(queue, 0), std::vector<int>{});  // clears the signal...
    EXPECT_TRUE(readable(queue.fd()));                      // ...but items remain: re-signalled
    ASSERT_EQ(drain_values(queue, 0).size(), 0u);
    queue.push_front(std::move(batch));
    EXPECT_TRUE(batch.empty());
    EXPECT_TRUE(readable(queue.fd()));
    EXPECT_EQ(queue.size(), 6u);
    EXPECT_EQ(drain_values(queue), (std::vector<int>{1, 2, 3, 4, 5, 6}));
    EXPECT_FALSE(readable(queue.fd()));
}

TEST(CompletionQueueTest, PushFrontOntoAnEmptyQueue) {
    CompletionQueue queue;
    for (int i = 0; i < 3; ++i) push(queue, i);
    CompletionQueue::Batch batch = queue.drain();
    EXPECT_FALSE(readable(queue.fd()));
    queue.push_front(std::move(batch));
    EXPECT_TRUE(readable(queue.fd()));
    push(queue, 3);
    EXPECT_EQ(drain_values(queue), (std::vector<int>{0, 1, 2, 3}));
}

TEST(CompletionQueueTest, QueueAndBatchesDeleteWhatTheyOwn) {
    {
        CompletionQueue queue;
        for (int i = 0; i < 10; ++i) queue.push(std::make_unique<Counted>());
        EXPECT_EQ(live_items.load(), 10);
        {
            CompletionQueue::Batch batch = queue.drain(4);
            CompletionQueue::Batch moved = std::move(batch);
            EXPECT_EQ(moved.size(), 4u);
        }
        EXPECT_EQ(live_items.load(), 6);
        queue.push(nullptr);  // ignored
        EXPECT_EQ(queue.size(), 6u);
    }
    EXPECT_EQ(live_items.load(), 0);
}

TEST(CompletionQueueTest, DescriptorIsNonBlockingAndCloseOnExec) {
    CompletionQueue queue;
    EXPECT_TRUE(::fcntl(queue.fd(), F_GETFL) & O_NONBLOCK);
    EXPECT_TRUE(::fcntl(queue.fd(), F_GETFD) & FD_CLOEXEC);
}

TEST(CompletionQueueTest, DescriptorIsClosedWithTheQueue) {
    int fd;
    {
        CompletionQueue queue;
        fd = queue.fd();
        push(queue, 1);  // left undrained
    }
    errno = 0;
    EXPECT_EQ(::fcntl(fd, F_GETFD), -1);
    EXPECT_EQ(errno, EBADF);
}

TEST(CompletionQueueTest, IdsAreUniqueAcrossThreads) {
    CompletionQueue queue;
    constexpr int kThreads = 4;
    constexpr int kPerThread = 10000;
    std::vector<std::vector<std::uint64_t>> ids(kThreads);
    run_threads(kThreads, [&](int t) {
        for (int i = 0; i < kPerThread; ++i) ids[t].push_back(queue.next_id());
    });
    std::set<std::uint64_t> all;
    for (const auto& some : ids) all.insert(some.begin(), some.end());
    EXPECT_EQ(all.size(), std::size_t{kThreads * kPerThread});
    EXPECT_EQ(all.count(0), 0u);  // 0 is never handed out
}

// Producers push while one consumer waits on the descriptor and drains in small batches, as
// an event loop does. A lost wake-up shows up as a poll() that times out with items missing.
TEST(CompletionQueueTest, ConcurrentPushesAndDrainsLoseNothing) {
    CompletionQueue queue;
    constexpr int kProducers = 4;
    constexpr int kPerProducer = 20000;
    constexpr int kTotal = kProducers * kPerProducer;
    std::atomic<bool> go{false};
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p)
        producers.emplace_back([&, p] {
            while (!go.load()) std::this_thread::yield();
            for (int i = 0; i < kPerProducer; ++i) {
                push(queue, i, p);
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
        CompletionQueue::Batch batch = queue.drain(64);
        if (batch.empty()) ++empty_wakeups;
        while (auto completion = batch.pop_front()) {
            const auto& item = static_cast<const Item&>(*completion);
            if (item.value != next[item.producer]) out_of_order = true;
            next[item.producer] = item.value + 1;
            ++received;
        }
    }
    for (auto& producer : producers) producer.join();
    EXPECT_FALSE(lost_wakeup) << "waited 30 s for a signal with " << (kTotal - received)
                              << " items missing";
    EXPECT_FALSE(out_of_order);
    EXPECT_EQ(received, kTotal);
    for (int p = 0; p < kProducers; ++p) EXPECT_EQ(next[p], kPerProducer) << p;

    const CompletionQueueStats stats = queue.stats();
    EXPECT_EQ(stats.pushed, std::uint64_t{kTotal});
    EXPECT_LE(stats.wakeups, stats.pushed);
    EXPECT_FALSE(readable(queue.fd()));
    EXPECT_EQ(queue.size(), 0u);
    std::printf("[ figures  ] %llu pushes, %llu wake-ups, %d empty wake-ups\n",
                static_cast<unsigned long long>(stats.pushed),
                static_cast<unsigned long long>(stats.wakeups), empty_wakeups);
}

// Drains racing a push must never leave an item behind without a signal: after every
// round the queue is either signalled or empty.
TEST(CompletionQueueTest, NoItemIsLeftWithoutASignal) {
    CompletionQueue queue;
    for (int round = 0; round < 2000; ++round) {
        std::thread producer([&] { push(queue, round); });
        std::vector<int> got = drain_values(queue);
        producer.join();
        if (got.empty()) {
            ASSERT_TRUE(readable(queue.fd())) << "round " << round << ": item without signal";
            got = drain_values(queue);
        }
        ASSERT_EQ(got, std::vector<int>{round});
        ASSERT_TRUE(queue.drain().empty());
        ASSERT_FALSE(readable(queue.fd()));
    }
    EXPECT_EQ(queue.stats().pushed, 2000u);
}

}  // namespace
}  // namespace asap_native
