/*
 * tests/unit/test_upstream_cap.c: server/upstream_cap.c, a provider's
 * connection cap on one worker: the per-worker share, the slots, the FIFO
 * and the gauge.
 */
#include "server/upstream_cap.h"
#include "../test.h"

TEST(share)
{
    CHECK_EQ_INT(llg_cap_share(0, 4), 0);
    CHECK_EQ_INT(llg_cap_share(1, 4), 1);
    CHECK_EQ_INT(llg_cap_share(2, 1), 2);
    CHECK_EQ_INT(llg_cap_share(3, 2), 2);
    CHECK_EQ_INT(llg_cap_share(8, 4), 2);
    CHECK_EQ_INT(llg_cap_share(9, 4), 3);
    CHECK_EQ_INT(llg_cap_share(5, 0), 5);
}

TEST(no_cap)
{
    llg_cap_t cap = {0};
    for (int i = 0; i < 1000; i++)
        CHECK(llg_cap_take(&cap));
    CHECK(llg_cap_release(&cap) == NULL);
    CHECK_EQ_INT(cap.used, 999);
}

TEST(fifo_and_handover)
{
    _Atomic int64_t gauge = 0;
    llg_cap_t cap = {.max = 2, .gauge = &gauge};
    llg_cap_waiter_t w[4] = {{0}};
    CHECK(llg_cap_take(&cap));
    CHECK(llg_cap_take(&cap));
    CHECK(!llg_cap_take(&cap));
    for (int i = 0; i < 4; i++)
        llg_cap_wait(&cap, &w[i]);
    CHECK_EQ_INT(cap.nwaiting, 4);
    CHECK_EQ_INT(gauge, 4);
    /* a cancelled waiter in the middle leaves; a second leave does nothing */
    llg_cap_leave(&cap, &w[1]);
    llg_cap_leave(&cap, &w[1]);
    CHECK(!w[1].queued);
    CHECK_EQ_INT(gauge, 3);
    /* a closed connection's slot goes to the first waiter: used stays */
    CHECK(llg_cap_release(&cap) == &w[0]);
    CHECK_EQ_INT(cap.used, 2);
    /* an idle connection handed over: the next in order */
    CHECK(llg_cap_pop(&cap) == &w[2]);
    CHECK(llg_cap_release(&cap) == &w[3]);
    CHECK_EQ_INT(cap.nwaiting, 0);
    CHECK_EQ_INT(gauge, 0);
    CHECK(cap.head == NULL && cap.tail == NULL);
    /* nobody waits: slots come free */
    CHECK(llg_cap_release(&cap) == NULL);
    CHECK(llg_cap_release(&cap) == NULL);
    CHECK_EQ_INT(cap.used, 0);
    CHECK(llg_cap_release(&cap) == NULL);
    CHECK_EQ_INT(cap.used, 0);
    CHECK(llg_cap_pop(&cap) == NULL);
}

TEST(leave_head_and_tail)
{
    llg_cap_t cap = {.max = 1};
    llg_cap_waiter_t a = {0}, b = {0}, c = {0};
    CHECK(llg_cap_take(&cap));
    llg_cap_wait(&cap, &a);
    llg_cap_wait(&cap, &b);
    llg_cap_wait(&cap, &c);
    llg_cap_leave(&cap, &a);
    llg_cap_leave(&cap, &c);
    CHECK(cap.head == &b && cap.tail == &b);
    llg_cap_wait(&cap, &a);
    CHECK(llg_cap_release(&cap) == &b);
    CHECK(llg_cap_release(&cap) == &a);
    CHECK(llg_cap_release(&cap) == NULL);
    CHECK_EQ_INT(cap.used, 0);
}

int main(void)
{
    RUN(share);
    RUN(no_cap);
    RUN(fifo_and_handover);
    RUN(leave_head_and_tail);
    TEST_MAIN_END();
}
