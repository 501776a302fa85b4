/*
 * tests/fuzz/fuzz_cluster.c: what the cluster link reads from Redis
 * (server/cluster.c, cluster_usage.c, cluster_rpm.c), on arbitrary bytes: the
 * bytes as a key-state message (PUBLISH text), and as RESP read by hiredis'
 * own reader, each reply handed to every consumer: the stored key states
 * (HGETALL keystate), the usage hashes of a day and a month, and the GCRA
 * script's answer. Asserts that nothing reads outside its input, that a
 * parsed message has the documented fields, and that the credits stored never
 * exceed what the link asked for.
 */
#include <hiredis/hiredis.h>
#include <string.h>

#include "conf/conf.h"
#include "pool/pool.h"
#include "server/cluster.h"
#include "server/cluster_link.h"
#include "tests/fuzz/fuzz.h"

static const char config[] = "providers:\n"
                             "  - {name: p, type: openai, base_url: 'http://127.0.0.1:9/v1', keys: [sk-a, sk-b]}\n"
                             "access_tokens:\n"
                             "  - {token: sk-t1, rpm: 60, quota: {requests_per_day: 5}}\n"
                             "  - {token: sk-t2, name: two, rpm: 100000}\n"
                             "model_groups: [{name: g, targets: [{provider: p, model: m}]}]\n"
                             "cluster: {redis: {url: 'redis://:pw@127.0.0.1:9', prefix: 'f:'}}\n";

static llg_pool_t *pool;
static llg_pool_view_t *view;

static void setup(void)
{
    static char *const env[] = {NULL};
    llg_conf_errors_t errs = {0};
    llg_conf_t *conf = llg_conf_load_string("fuzz", config, sizeof(config) - 1, env, &errs);
    FUZZ_ASSERT(conf != NULL);
    pool = llg_pool_create(4, 4, 4);
    FUZZ_ASSERT(pool != NULL && llg_pool_sync(&pool, conf, &view) == 0);
    llg_pool_set_cluster_state(pool, LLG_CLUSTER_UP);
    FUZZ_ASSERT(link_init(conf, pool, view) == 0);
}

/* hiredis 0.14 allocates an array's elements when it reads the count: an
 * input announcing a huge array would measure the allocator, not the link
 * (Redis itself is trusted not to send one; a link that ran out of memory
 * would be restarted by the master). Such inputs skip the RESP part. */
static bool huge_array(const char *p, size_t size)
{
    for (size_t i = 0; i < size; i++) {
        if (p[i] != '*')
            continue;
        unsigned long long n = 0;
        for (size_t j = i + 1; j < size && p[j] >= '0' && p[j] <= '9' && n < 100000; j++)
            n = n * 10 + (unsigned long long)(p[j] - '0');
        if (n > 4096)
            return true;
    }
    return false;
}

static void consume(const redisReply *reply)
{
    link_apply_states(NULL, reply);
    link_apply_breaker_states(NULL, reply);
    uint64_t day = llg_pool_utc_day(1765000000), month = llg_pool_utc_month(1765000000);
    link_usage_read(reply, false, day, month);
    link_usage_read(reply, true, day, month);
    for (size_t i = 0; i < link_rpm_count(); i++)
        link_rpm_taken(i, reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (pool == NULL)
        setup();
    char *p = malloc(size ? size : 1);
    FUZZ_ASSERT(p != NULL);
    memcpy(p, data, size);

    char instance[33], id[33];
    llg_share_kind_t kind;
    uint64_t rem;
    if (llg_cluster_parse(p, size, instance, id, &kind, &rem) == 0) {
        FUZZ_ASSERT(strlen(instance) > 0 && strlen(instance) <= 32 && strlen(id) > 0 && strlen(id) <= 32);
        FUZZ_ASSERT(kind <= LLG_SHARE_DISABLED && rem < 1000000000000000ull);
    }
    link_apply_message(p, size);
    link_apply_breaker_message(p, size);

    redisReader *r = redisReaderCreate();
    FUZZ_ASSERT(r != NULL);
    if (!huge_array(p, size) && redisReaderFeed(r, p, size) == REDIS_OK) {
        void *reply = NULL;
        for (int n = 0; n < 16 && redisReaderGetReply(r, &reply) == REDIS_OK && reply != NULL; n++) {
            consume(reply);
            freeReplyObject(reply);
            reply = NULL;
        }
    }
    redisReaderFree(r);

    /* a reply may grant no more than asked: the link asks for no more than
     * the lead plus the waiting requests (none here), so a token's credits
     * stay within its lead (rpm / 150) */
    uint64_t waiting;
    int64_t credits;
    bool active;
    for (int t = 0; t < 2; t++)
        if (llg_pool_lease_state(pool, view, t, llg_pool_now_ms(), 2000, &waiting, &credits, &active) == 0)
            FUZZ_ASSERT(credits <= 100000 / 150 + 1);
    /* the credits of one input do not carry over into the next */
    for (int t = 0; t < 2; t++)
        llg_pool_lease_expire(pool, view, t, UINT64_MAX / 2);
    free(p);
    return 0;
}
