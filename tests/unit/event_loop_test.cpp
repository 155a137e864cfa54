// EventLoop (src/core/event_loop.h): timers (arm/disarm, lazy re-arm, order
// of expiry), posted functions, deferred deletion and fd readiness. Only the
// order and the fact of firing are asserted, never how long anything took;
// "fired no earlier than its deadline" compares against the loop's own clock.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/event_loop.h"

namespace sy {
namespace {

struct Recorder : TimerHandler {
    std::vector<int> fired;
    std::vector<uint64_t> fired_at;
    std::vector<uint64_t> deadline_at_fire;
    std::vector<Timer*> timers;   // indexed by tag, for deadline checks
    EventLoop* loop = nullptr;
    int rearm_tag = -1, rearm_times = 0;
    void on_timer(int tag) override {
        fired.push_back(tag);
        fired_at.push_back(clock::now_ms());
        deadline_at_fire.push_back(size_t(tag) < timers.size() && timers[size_t(tag)] ? timers[size_t(tag)]->deadline : 0);
        if (tag == rearm_tag && rearm_times > 0) {
            --rearm_times;
            loop->arm(*timers[size_t(tag)], 1);
        }
    }
};

void bind(Recorder& rec, std::vector<Timer>& ts) {
    rec.timers.clear();
    for (size_t i = 0; i < ts.size(); ++i) {
        ts[i].tag = int(i);
        ts[i].owner = &rec;
        rec.timers.push_back(&ts[i]);
    }
}

// Runs iterations until `done()` or a generous iteration cap (no timing asserts).
template <typename F>
void run_until(EventLoop& loop, F done, int max_iterations = 2000) {
    for (int i = 0; i < max_iterations && !done(); ++i) loop.run_once(5);
}

TEST(EventLoop, TimerFiresOnce) {
    EventLoop loop;
    Recorder rec;
    std::vector<Timer> ts(1);
    bind(rec, ts);
    clock::update();
    loop.arm(ts[0], 1);
    EXPECT_TRUE(ts[0].armed());
    run_until(loop, [&] { return !rec.fired.empty(); });
    ASSERT_EQ(rec.fired, std::vector<int>{0});
    EXPECT_FALSE(ts[0].armed());
    // no second firing
    for (int i = 0; i < 3; ++i) loop.run_once(2);
    EXPECT_EQ(rec.fired.size(), 1u);
}

TEST(EventLoop, FiresNoEarlierThanDeadline) {
    EventLoop loop;
    Recorder rec;
    std::vector<Timer> ts(1);
    bind(rec, ts);
    clock::update();
    loop.arm(ts[0], 20);
    uint64_t deadline = ts[0].deadline;
    run_until(loop, [&] { return !rec.fired.empty(); });
    ASSERT_EQ(rec.fired.size(), 1u);
    EXPECT_GE(rec.fired_at[0], deadline);
}

TEST(EventLoop, ExpiryOrderFollowsDeadlines) {
    EventLoop loop;
    Recorder rec;
    std::vector<Timer> ts(4);
    bind(rec, ts);
    clock::update();
    loop.arm(ts[0], 40);
    loop.arm(ts[1], 10);
    loop.arm(ts[2], 30);
    loop.arm(ts[3], 20);
    run_until(loop, [&] { return rec.fired.size() == 4; });
    EXPECT_EQ(rec.fired, (std::vector<int>{1, 3, 2, 0}));
}

TEST(EventLoop, ManyTimersFireInDeadlineOrder) {
    EventLoop loop;
    Recorder rec;
    std::vector<Timer> ts(12);
    bind(rec, ts);
    // deadlines 2*k for a scrambled k
    const int order[12] = {7, 2, 11, 0, 5, 9, 1, 10, 3, 8, 6, 4};
    clock::update();
    for (int i = 0; i < 12; ++i) loop.arm(ts[size_t(i)], uint64_t(2 * order[i]));
    run_until(loop, [&] { return rec.fired.size() == 12; });
    ASSERT_EQ(rec.fired.size(), 12u);
    for (size_t i = 1; i < rec.fired.size(); ++i)
        EXPECT_LT(order[rec.fired[i - 1]], order[rec.fired[i]]) << "position " << i;
}

TEST(EventLoop, DisarmPreventsFiring) {
    EventLoop loop;
    Recorder rec;
    std::vector<Timer> ts(2);
    bind(rec, ts);
    clock::update();
    loop.arm(ts[0], 1);
    loop.arm(ts[1], 15);
    loop.disarm(ts[0]);
    EXPECT_FALSE(ts[0].armed());
    EXPECT_TRUE(ts[1].armed());
    run_until(loop, [&] { return !rec.fired.empty(); });
    EXPECT_EQ(rec.fired, std::vector<int>{1});
    loop.disarm(ts[0]);  // disarming an idle timer is a no-op
    loop.disarm(ts[1]);
}

TEST(EventLoop, DisarmMiddleOfHeapKeepsOthersOrdered) {
    EventLoop loop;
    Recorder rec;
    std::vector<Timer> ts(6);
    bind(rec, ts);
    clock::update();
    for (size_t i = 0; i < 6; ++i) loop.arm(ts[i], 5 + 5 * i);
    loop.disarm(ts[2]);
    loop.disarm(ts[4]);
    run_until(loop, [&] { return rec.fired.size() == 4; });
    EXPECT_EQ(rec.fired, (std::vector<int>{0, 1, 3, 5}));
}

TEST(EventLoop, RearmLaterIsLazyButFiresAtTheLaterDeadlineOnly) {
    EventLoop loop;
    Recorder rec;
    std::vector<Timer> ts(2);
    bind(rec, ts);
    clock::update();
    loop.arm(ts[0], 5);
    loop.arm(ts[1], 30);
    uint64_t first_key = ts[0].key;
    loop.arm(ts[0], 60);  // later: only the logical deadline moves
    EXPECT_EQ(ts[0].key, first_key);
    EXPECT_GT(ts[0].deadline, ts[0].key);
    uint64_t later = ts[0].deadline;
    run_until(loop, [&] { return rec.fired.size() == 2; });
    ASSERT_EQ(rec.fired.size(), 2u);
    size_t i0 = rec.fired[0] == 0 ? 0 : 1, i1 = 1 - i0;
    ASSERT_EQ(rec.fired[i0], 0);
    ASSERT_EQ(rec.fired[i1], 1);
    // the re-armed timer fired once, at its later deadline, not at the first one
    EXPECT_GE(rec.fired_at[i0], later);
    EXPECT_EQ(rec.deadline_at_fire[i0], later);
    // When the other timer fired before that later deadline, the re-armed one
    // was still pending then. (If the process stalled past both deadlines
    // they expire in one batch and their relative order is not specified.)
    if (rec.fired_at[i1] < later) {
        EXPECT_EQ(rec.fired, (std::vector<int>{1, 0}));
    }
    for (int i = 0; i < 3; ++i) loop.run_once(2);
    EXPECT_EQ(rec.fired.size(), 2u);
}

TEST(EventLoop, RearmLaterSeveralTimesFiresOnce) {
    EventLoop loop;
    Recorder rec;
    std::vector<Timer> ts(1);
    bind(rec, ts);
    clock::update();
    loop.arm(ts[0], 2);
    loop.arm(ts[0], 10);
    loop.arm(ts[0], 20);
    uint64_t last = ts[0].deadline;
    run_until(loop, [&] { return !rec.fired.empty(); });
    ASSERT_EQ(rec.fired.size(), 1u);
    EXPECT_GE(rec.fired_at[0], last);
    for (int i = 0; i < 3; ++i) loop.run_once(2);
    EXPECT_EQ(rec.fired.size(), 1u);
}

TEST(EventLoop, RearmEarlierMovesUpImmediately) {
    EventLoop loop;
    Recorder rec;
    std::vector<Timer> ts(2);
    bind(rec, ts);
    clock::update();
    loop.arm(ts[0], 10000);
    loop.arm(ts[1], 30);
    loop.arm(ts[0], 1);  // earlier than it was: the heap key moves
    EXPECT_EQ(ts[0].key, ts[0].deadline);
    run_until(loop, [&] { return rec.fired.size() == 2; });
    EXPECT_EQ(rec.fired, (std::vector<int>{0, 1}));
}

TEST(EventLoop, RearmFromCallback) {
    EventLoop loop;
    Recorder rec;
    rec.loop = &loop;
    std::vector<Timer> ts(1);
    bind(rec, ts);
    rec.rearm_tag = 0;
    rec.rearm_times = 2;
    loop.arm(ts[0], 1);
    run_until(loop, [&] { return rec.fired.size() == 3; });
    EXPECT_EQ(rec.fired, (std::vector<int>{0, 0, 0}));
    EXPECT_FALSE(ts[0].armed());
}

TEST(EventLoop, SameDeadlineAllFire) {
    EventLoop loop;
    Recorder rec;
    std::vector<Timer> ts(3);
    bind(rec, ts);
    clock::update();
    for (auto& t : ts) loop.arm(t, 3);
    run_until(loop, [&] { return rec.fired.size() == 3; });
    std::vector<int> f = rec.fired;
    std::sort(f.begin(), f.end());
    EXPECT_EQ(f, (std::vector<int>{0, 1, 2}));
}

TEST(EventLoop, PostedFunctionsRunInOrder) {
    EventLoop loop;
    std::vector<int> order;
    loop.post([&] { order.push_back(1); });
    loop.post([&] {
        order.push_back(2);
        loop.post([&] { order.push_back(3); });  // posted while running: same iteration
    });
    loop.run_once(1000);  // returns at once: posted work means no wait
    EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(EventLoop, PostNextWaitsForTheNextIterationAndItsEvents) {
    EventLoop loop;
    int fds[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    std::vector<std::string> order;
    struct Reader : IoHandler {
        std::vector<std::string>* order;
        void on_io(int, uint32_t ev) override {
            if (ev & EPOLLIN) order->push_back("io");
        }
    } reader;
    reader.order = &order;
    Io io;
    io.fd = fds[0];
    io.owner = &reader;
    ASSERT_TRUE(loop.add(io));
    loop.run_once(0);   // the first EPOLLOUT
    order.clear();
    int turns = 0;
    std::function<void()> again = [&] {
        order.push_back("next" + std::to_string(++turns));
        if (turns < 3) loop.post_next(again);   // a budget used up: more next time
    };
    loop.post_next(again);
    ASSERT_EQ(::write(fds[1], "x", 1), 1);
    loop.run_once(1000);   // returns at once: next-iteration work means no wait
    EXPECT_EQ(order, (std::vector<std::string>{"io", "next1"}));   // I/O first, then one turn only
    loop.run_once(1000);
    loop.run_once(1000);
    EXPECT_EQ(order, (std::vector<std::string>{"io", "next1", "next2", "next3"}));
    loop.remove(io);
    close(fds[0]);
    close(fds[1]);
}

struct Tracked : Deletable {
    int* deleted;
    explicit Tracked(int* d) : deleted(d) {}
    ~Tracked() override { ++*deleted; }
};

TEST(EventLoop, DeferDeleteHappensAfterTheIteration) {
    EventLoop loop;
    int deleted = 0;
    auto* t = new Tracked(&deleted);
    loop.post([&] {
        loop.defer_delete(t);
        EXPECT_EQ(deleted, 0);  // not during dispatch
    });
    loop.run_once(0);
    EXPECT_EQ(deleted, 1);
}

TEST(EventLoop, GraveyardEmptiedOnDestruction) {
    int deleted = 0;
    {
        EventLoop loop;
        loop.defer_delete(new Tracked(&deleted));
    }
    EXPECT_EQ(deleted, 1);
}

struct IoRec : IoHandler {
    std::vector<std::pair<int, uint32_t>> events;
    void on_io(int tag, uint32_t ev) override { events.emplace_back(tag, ev); }
};

TEST(EventLoop, IoReadinessDispatchedWithTag) {
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    EventLoop loop;
    IoRec rec;
    Io io;
    io.fd = fds[0];
    io.tag = 7;
    io.owner = &rec;
    ASSERT_TRUE(loop.add_level_read(io));
    EXPECT_TRUE(io.registered);
    loop.run_once(0);
    EXPECT_TRUE(rec.events.empty());
    ASSERT_EQ(write(fds[1], "x", 1), 1);
    run_until(loop, [&] { return !rec.events.empty(); }, 200);
    ASSERT_FALSE(rec.events.empty());
    EXPECT_EQ(rec.events[0].first, 7);
    EXPECT_TRUE(rec.events[0].second & EPOLLIN);
    loop.remove(io);
    EXPECT_FALSE(io.registered);
    rec.events.clear();
    ASSERT_EQ(write(fds[1], "y", 1), 1);
    loop.run_once(0);
    EXPECT_TRUE(rec.events.empty());
    close(fds[0]);
    close(fds[1]);
}

TEST(EventLoop, EdgeTriggeredWriteReadiness) {
    int fds[2];
    ASSERT_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    EventLoop loop;
    IoRec rec;
    Io io;
    io.fd = fds[1];
    io.tag = 3;
    io.owner = &rec;
    ASSERT_TRUE(loop.add(io));
    run_until(loop, [&] { return !rec.events.empty(); }, 200);
    ASSERT_EQ(rec.events.size(), 1u);
    EXPECT_TRUE(rec.events[0].second & EPOLLOUT);
    // edge-triggered: no new event without a state change
    loop.run_once(0);
    EXPECT_EQ(rec.events.size(), 1u);
    loop.remove(io);
    close(fds[0]);
    close(fds[1]);
}

TEST(EventLoop, StopEndsRun) {
    EventLoop loop;
    Recorder rec;
    std::vector<Timer> ts(1);
    bind(rec, ts);
    struct Stopper : TimerHandler {
        EventLoop* l;
        void on_timer(int) override { l->stop(); }
    } stopper;
    stopper.l = &loop;
    ts[0].owner = &stopper;
    loop.arm(ts[0], 1);
    loop.run();
    EXPECT_FALSE(loop.running());
}

}  // namespace
}  // namespace sy
