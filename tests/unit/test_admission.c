/*
 * tests/unit/test_admission.c: server/admission.c, the per-worker counts of
 * connections and reserved body bytes (docs/security.md "Memory before
 * authentication").
 */
#include "server/admission.h"
#include "../test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>

static llg_client_addr_t v4(const char *s)
{
    struct sockaddr_in in = {.sin_family = AF_INET};
    inet_pton(AF_INET, s, &in.sin_addr);
    return llg_client_addr_from(&in);
}

static const llg_admission_limits_t LIMITS = {
    .max_connections = 5,
    .max_connections_per_client = 3,
    .max_body_bytes = 100,
    .max_buffered_body_bytes = 1000,
    .max_buffered_body_bytes_per_client = 400,
};

TEST(addresses)
{
    llg_client_addr_t a = v4("10.1.2.3");
    static const uint8_t want[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
    CHECK(memcmp(a.bytes, want, 16) == 0);
    /* IPv6: one /64 is one client */
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6}, other = {.sin6_family = AF_INET6}, next = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "2001:db8:1:2:aaaa:bbbb:cccc:dddd", &in6.sin6_addr);
    inet_pton(AF_INET6, "2001:db8:1:2::1", &other.sin6_addr);
    inet_pton(AF_INET6, "2001:db8:1:3::1", &next.sin6_addr);
    llg_client_addr_t b = llg_client_addr_from(&in6), b2 = llg_client_addr_from(&other), b3 = llg_client_addr_from(&next);
    static const uint8_t prefix[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 2};
    CHECK(memcmp(b.bytes, prefix, 16) == 0);
    CHECK(memcmp(b.bytes, b2.bytes, 16) == 0);
    CHECK(memcmp(b.bytes, b3.bytes, 16) != 0);
    /* an IPv4-mapped IPv6 address stays whole, the same client as over IPv4 */
    struct sockaddr_in6 mapped = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::ffff:10.1.2.3", &mapped.sin6_addr);
    llg_client_addr_t m = llg_client_addr_from(&mapped);
    CHECK(memcmp(m.bytes, want, 16) == 0);
    struct sockaddr unknown = {.sa_family = AF_UNIX};
    llg_client_addr_t z = llg_client_addr_from(&unknown), zero = {{0}};
    CHECK(memcmp(z.bytes, zero.bytes, 16) == 0);
}

TEST(connections_per_client_and_worker)
{
    llg_admission_t *adm = llg_admission_create(&LIMITS);
    llg_client_addr_t a = v4("10.0.0.1"), b = v4("10.0.0.2"), c = v4("10.0.0.3");
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(llg_admission_conn_open(adm, &a), LLG_ADMIT_OK);
    CHECK_EQ_INT(llg_admission_conn_open(adm, &a), LLG_ADMIT_CLIENT_FULL);
    CHECK_EQ_INT(llg_admission_conn_open(adm, &b), LLG_ADMIT_OK);
    CHECK_EQ_INT(llg_admission_conn_open(adm, &b), LLG_ADMIT_OK);
    CHECK_EQ_INT(llg_admission_conn_open(adm, &c), LLG_ADMIT_WORKER_FULL);
    CHECK_EQ_INT(llg_admission_connections(adm), 5);
    llg_admission_conn_close(adm, &a);
    CHECK_EQ_INT(llg_admission_conn_open(adm, &c), LLG_ADMIT_OK);
    /* a close of an address without connections changes nothing */
    llg_client_addr_t d = v4("10.0.0.4");
    llg_admission_conn_close(adm, &d);
    CHECK_EQ_INT(llg_admission_connections(adm), 5);
    llg_admission_destroy(adm);
}

TEST(no_per_client_connection_limit)
{
    llg_admission_limits_t l = LIMITS;
    l.max_connections_per_client = 0;
    llg_admission_t *adm = llg_admission_create(&l);
    llg_client_addr_t a = v4("10.0.0.1");
    for (int i = 0; i < 5; i++)
        CHECK_EQ_INT(llg_admission_conn_open(adm, &a), LLG_ADMIT_OK);
    CHECK_EQ_INT(llg_admission_conn_open(adm, &a), LLG_ADMIT_WORKER_FULL);
    llg_admission_destroy(adm);
}

TEST(body_budgets)
{
    llg_admission_t *adm = llg_admission_create(&LIMITS);
    llg_client_addr_t a = v4("10.0.0.1"), b = v4("10.0.0.2"), c = v4("10.0.0.3");
    int keys[20];
    /* a: 4 x 100 fill its 400 */
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(llg_admission_reserve(adm, &keys[i], &a, 100), LLG_ADMIT_OK);
    CHECK_EQ_INT(llg_admission_reserve(adm, &keys[4], &a, 1), LLG_ADMIT_CLIENT_FULL);
    CHECK_EQ_INT(llg_admission_client_body_bytes(adm, &a), 400);
    /* unknown length: max_body_bytes */
    for (int i = 5; i < 9; i++)
        CHECK_EQ_INT(llg_admission_reserve(adm, &keys[i], &b, UINT64_MAX), LLG_ADMIT_OK);
    CHECK_EQ_INT(llg_admission_client_body_bytes(adm, &b), 400);
    CHECK_EQ_INT(llg_admission_reserve(adm, &keys[9], &c, 200), LLG_ADMIT_OK);
    /* the worker's 1000 is spent: c has room of its own, the worker none */
    CHECK_EQ_INT(llg_admission_reserve(adm, &keys[10], &c, 1), LLG_ADMIT_WORKER_FULL);
    CHECK_EQ_INT(llg_admission_body_bytes(adm), 1000);
    /* given back when the request ends; twice is harmless */
    llg_admission_release(adm, &keys[0]);
    llg_admission_release(adm, &keys[0]);
    CHECK_EQ_INT(llg_admission_body_bytes(adm), 900);
    CHECK_EQ_INT(llg_admission_reserve(adm, &keys[10], &c, 100), LLG_ADMIT_OK);
    /* a second reservation of one key replaces the first */
    CHECK_EQ_INT(llg_admission_reserve(adm, &keys[10], &c, 50), LLG_ADMIT_OK);
    CHECK_EQ_INT(llg_admission_client_body_bytes(adm, &c), 250);
    for (int i = 0; i < 11; i++)
        llg_admission_release(adm, &keys[i]);
    CHECK_EQ_INT(llg_admission_body_bytes(adm), 0);
    CHECK_EQ_INT(llg_admission_client_body_bytes(adm, &a), 0);
    llg_admission_destroy(adm);
}

/* many addresses come and go: entries are freed once they hold nothing */
TEST(churn)
{
    llg_admission_limits_t l = LIMITS;
    l.max_connections = 100000;
    l.max_buffered_body_bytes = UINT64_MAX / 4;
    llg_admission_t *adm = llg_admission_create(&l);
    static int keys[50000];
    for (int i = 0; i < 50000; i++) {
        struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x0a000000u + (uint32_t)i)};
        llg_client_addr_t a = llg_client_addr_from(&in);
        CHECK_EQ_INT(llg_admission_conn_open(adm, &a), LLG_ADMIT_OK);
        CHECK_EQ_INT(llg_admission_reserve(adm, &keys[i], &a, 10), LLG_ADMIT_OK);
    }
    CHECK_EQ_INT(llg_admission_body_bytes(adm), 500000);
    for (int i = 0; i < 50000; i++) {
        struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x0a000000u + (uint32_t)i)};
        llg_client_addr_t a = llg_client_addr_from(&in);
        llg_admission_release(adm, &keys[i]);
        llg_admission_conn_close(adm, &a);
    }
    CHECK_EQ_INT(llg_admission_connections(adm), 0);
    CHECK_EQ_INT(llg_admission_body_bytes(adm), 0);
    llg_admission_destroy(adm);
}

int main(void)
{
    RUN(addresses);
    RUN(connections_per_client_and_worker);
    RUN(no_per_client_connection_limit);
    RUN(body_budgets);
    RUN(churn);
    TEST_MAIN_END();
}
