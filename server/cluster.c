/*
 * server/cluster.c: the cluster link process (see cluster.h, docs/cluster.md):
 * its uv loop, the two hiredis async connections with their backoff, AUTH,
 * SELECT and timeouts, the 10 ms poll of the pool's change counters that
 * publishes local key transitions (PUBLISH <prefix>keys and HSET
 * <prefix>keystate), and the application of other instances' messages and of
 * the stored key states at connect. Keys are named by a keyed hash of
 * (provider name, secret), never by the secret. The password is never logged.
 * Model groups' circuit breakers are shared the same way, in messages of the
 * same form on <prefix>breakers and a hash <prefix>breakerstate; a target is
 * named by its cluster-wide id (pool/balance.h: group, provider, model).
 */
#include "server/cluster.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <uv.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include <hiredis/adapters/libuv.h>
#pragma GCC diagnostic pop

#include "pool/balance.h"
#include "server/cluster_link.h"
#include "server/log.h"

#define POLL_MS        10
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define PING_EVERY_MS  1000
#define ID_BYTES       LINK_ID_BYTES

static struct {
    const llg_conf_redis_t *r;
    llg_pool_t *pool;
    const llg_pool_view_t *view;
    uv_loop_t loop;
    uv_timer_t poll, retry, watchdog;
    uv_signal_t sigterm;
    redisAsyncContext *cmd, *sub;
    bool cmd_ready, sub_ready, up, was_up_once;
    int logged; /* 0 nothing yet, 1 down, 2 up: one line per change */
    uint64_t backoff_ms, connect_started, ping_sent, last_ping;
    bool ping_pending, force_scan;
    uint64_t last_total, last_btotal;
    char instance[17];
    char channel[128], hash[128];   /* keys */
    char bchannel[128], bhash[128]; /* breakers */
    link_key_t *keys;
    size_t nkeys;
    link_key_t *targets; /* slot: the target's index (llg_balance_target_id) */
    size_t ntargets;
    uint64_t probe_grace_ms; /* see apply_message */
} L;

redisAsyncContext *link_cmd(void)
{
    return L.up ? L.cmd : NULL;
}

const char *link_prefix(void)
{
    return L.r->prefix;
}

const link_key_t *link_keys(size_t *count)
{
    *count = L.nkeys;
    return L.keys;
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- messages ---------------------------------------------------------------- */

static const char kind_char[] = "ucd";

int llg_cluster_format(char *out, size_t size, const char *instance, const char *key_id, llg_share_kind_t kind,
                       uint64_t remaining_ms)
{
    if ((unsigned)kind > LLG_SHARE_DISABLED)
        return -1;
    int n = snprintf(out, size, "1 %s %s %c %llu", instance, key_id, kind_char[kind], (unsigned long long)remaining_ms);
    return n < 0 || (size_t)n >= size ? -1 : n;
}

/* Copies the next space-ended word of [*p, end) into out (at most 32 chars). */
static int take_word(const char **p, const char *end, char out[33])
{
    size_t n = 0;
    while (*p < end && **p != ' ') {
        if (n == 32 || (unsigned char)**p <= 0x20)
            return -1;
        out[n++] = *(*p)++;
    }
    out[n] = '\0';
    if (*p < end)
        (*p)++;
    return n > 0 ? 0 : -1;
}

int llg_cluster_parse(const char *msg, size_t len, char instance[33], char key_id[33], llg_share_kind_t *kind,
                      uint64_t *remaining_ms)
{
    const char *p = msg, *end = msg + len;
    char version[33], k[33], num[33];
    if (take_word(&p, end, version) || strcmp(version, "1") != 0 || take_word(&p, end, instance) || take_word(&p, end, key_id) ||
        take_word(&p, end, k) || take_word(&p, end, num) || p != end || k[1] != '\0')
        return -1;
    const char *kc = strchr(kind_char, k[0]);
    if (kc == NULL || k[0] == '\0' || strspn(num, "0123456789") != strlen(num) || strlen(num) > 15)
        return -1;
    *kind = (llg_share_kind_t)(kc - kind_char);
    *remaining_ms = strtoull(num, NULL, 10);
    return 0;
}

/* ---- the keys, by keyed hash ------------------------------------------------ */

/* `n` bytes as 2n lowercase hex digits and a NUL. */
static void hex(const unsigned char *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp(((const link_key_t *)a)->id, ((const link_key_t *)b)->id);
}

/* The hash key is derived from the Redis password and prefix: every instance
 * of a cluster computes the same ids, and a reader without the password cannot
 * check a guessed secret against them (docs/cluster.md). */
void link_id(const char *domain, const char *secret, char out[2 * LINK_ID_BYTES + 1])
{
    unsigned char d[32];
    out[0] = '\0';
    if (llg_pool_cluster_digest(L.r, domain, secret, d) != 0)
        return;
    hex(d, ID_BYTES, out);
    OPENSSL_cleanse(d, sizeof(d));
}

static int build_keys(const llg_conf_t *conf, const llg_pool_view_t *view)
{
    size_t total = 0;
    for (size_t p = 0; p < conf->provider_count; p++)
        total += conf->providers[p].keys.count;
    L.keys = calloc(total ? total : 1, sizeof(*L.keys));
    if (L.keys == NULL)
        return -1;
    for (size_t p = 0; p < conf->provider_count; p++) {
        const llg_conf_provider_t *cp = &conf->providers[p];
        for (size_t k = 0; k < cp->keys.count; k++) {
            int32_t slot = llg_pool_key_slot(view, (unsigned)p, (unsigned)k);
            if (slot < 0)
                continue;
            link_key_t *lk = &L.keys[L.nkeys++];
            link_id(cp->name, cp->keys.items[k], lk->id);
            if (lk->id[0] == '\0')
                return -1;
            lk->slot = slot;
        }
    }
    qsort(L.keys, L.nkeys, sizeof(*L.keys), cmp_key);
    return 0;
}

static int build_targets(const llg_pool_view_t *view)
{
    size_t n = llg_balance_target_count(view);
    L.targets = calloc(n ? n : 1, sizeof(*L.targets));
    if (L.targets == NULL)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char id[ID_BYTES];
        llg_balance_target_id(view, i, id);
        hex(id, ID_BYTES, L.targets[i].id);
        L.targets[i].slot = (int32_t)i;
    }
    L.ntargets = n;
    qsort(L.targets, L.ntargets, sizeof(*L.targets), cmp_key);
    return 0;
}

static link_key_t *find_in(link_key_t *table, size_t n, const char *id)
{
    link_key_t probe;
    snprintf(probe.id, sizeof(probe.id), "%s", id);
    return bsearch(&probe, table, n, sizeof(*table), cmp_key);
}

static link_key_t *find_key(const char *id)
{
    return find_in(L.keys, L.nkeys, id);
}

/* ---- state: up, down, one log line per change ----------------------------- */

static void connect_both(void);

static void on_retry(uv_timer_t *t)
{
    (void)t;
    connect_both();
}

/* Drops both connections (a reply missing, a connection lost, AUTH refused)
 * and retries after the backoff. */
static void link_down(const char *why)
{
    redisAsyncContext *cmd = L.cmd, *sub = L.sub;
    L.cmd = L.sub = NULL;
    L.cmd_ready = L.sub_ready = L.up = L.ping_pending = false;
    if (cmd != NULL)
        redisAsyncFree(cmd);
    if (sub != NULL)
        redisAsyncFree(sub);
    llg_pool_set_cluster_state(L.pool, LLG_CLUSTER_DOWN);
    link_rpm_down();
    if (L.logged != 1) {
        llg_warn("cluster: redis at %s %s (%s); working on this host's key state, reconnecting", L.r->display,
                 L.logged == 2 ? "lost" : "unreachable", why);
        L.logged = 1;
    }
    if (!uv_is_active((uv_handle_t *)&L.retry)) {
        uv_timer_start(&L.retry, on_retry, L.backoff_ms, 0);
        L.backoff_ms = L.backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : L.backoff_ms * 2;
    }
}

static void link_check_up(void)
{
    if (L.up || !L.cmd_ready || !L.sub_ready)
        return;
    L.up = true;
    L.backoff_ms = BACKOFF_MIN_MS;
    L.force_scan = true;
    L.last_ping = uv_now(&L.loop);
    llg_pool_set_cluster_state(L.pool, LLG_CLUSTER_UP);
    if (L.logged != 2) {
        llg_info("cluster: connected to redis at %s (instance %s); sharing key state", L.r->display, L.instance);
        L.logged = 2;
    }
}

/* A reply of the command connection: false (after dropping the link) when it
 * is an error or the connection went away. */
bool link_reply_ok(redisAsyncContext *ac, redisReply *reply, const char *what)
{
    if (ac != L.cmd && ac != L.sub)
        return false; /* a context being freed */
    if (reply == NULL) {
        link_down("connection closed");
        return false;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        char why[160];
        snprintf(why, sizeof(why), "%s: %.120s", what, reply->str);
        link_down(why);
        return false;
    }
    return true;
}

/* ---- publishing local changes ------------------------------------------------ */

static void publish(const char *channel, const char *hash, link_key_t *k, llg_share_kind_t kind, uint64_t remaining_ms)
{
    char msg[128];
    if (llg_cluster_format(msg, sizeof(msg), L.instance, k->id, kind, remaining_ms) < 0)
        return;
    redisAsyncCommand(L.cmd, NULL, NULL, "PUBLISH %s %s", channel, msg);
    if (kind == LLG_SHARE_USABLE) {
        redisAsyncCommand(L.cmd, NULL, NULL, "HDEL %s %s", hash, k->id);
    } else {
        char val[64];
        snprintf(val, sizeof(val), "%c %llu", kind_char[kind], (unsigned long long)(wall_ms() + remaining_ms));
        redisAsyncCommand(L.cmd, NULL, NULL, "HSET %s %s %s", hash, k->id, val);
    }
}

/* Publishes every key whose local change count moved. The first pass of a
 * link process skips keys that are usable (their news is old: another
 * instance may have rested them since). */
static void publish_keys(void)
{
    uint64_t total = llg_pool_key_changes(L.pool);
    if (total == L.last_total && !L.force_scan)
        return;
    L.last_total = total;
    uint64_t now = llg_pool_now_ms();
    for (size_t i = 0; i < L.nkeys; i++) {
        link_key_t *k = &L.keys[i];
        uint32_t changes;
        llg_share_kind_t kind;
        uint64_t rem;
        if (llg_pool_key_share(L.pool, k->slot, now, &changes, &kind, &rem) != 0 || changes == k->seen)
            continue;
        k->seen = changes;
        if (kind != LLG_SHARE_USABLE || L.was_up_once)
            publish(L.channel, L.hash, k, kind, rem);
    }
}

/* Likewise for the breakers of model groups' targets: open ("c", the ms
 * left) or closed ("u"). A half-open breaker has nothing to tell: its probe's
 * outcome will. */
static void publish_breakers(void)
{
    uint64_t total = llg_balance_changes(L.pool);
    if (total == L.last_btotal && !L.force_scan)
        return;
    L.last_btotal = total;
    for (size_t i = 0; i < L.ntargets; i++) {
        link_key_t *t = &L.targets[i];
        uint32_t changes;
        bool open;
        uint64_t rem;
        if (llg_balance_share(L.pool, L.view, (size_t)t->slot, &changes, &open, &rem) != 0 || changes == t->seen)
            continue;
        t->seen = changes;
        if (open && rem == 0)
            continue;
        if (open || L.was_up_once)
            publish(L.bchannel, L.bhash, t, open ? LLG_SHARE_COOLING : LLG_SHARE_USABLE, rem);
    }
}

static void on_poll(uv_timer_t *t)
{
    (void)t;
    if (!L.up)
        return; /* counts keep moving; what changed meanwhile is sent once up */
    uint64_t now = llg_pool_now_ms();
    publish_keys();
    publish_breakers();
    L.force_scan = false;
    L.was_up_once = true;
    link_rpm_poll(now);
    link_usage_poll(now);
}

/* ---- applying other instances' states --------------------------------------- */

void link_apply_message(const char *msg, size_t len)
{
    char instance[33], id[33];
    llg_share_kind_t kind;
    uint64_t rem;
    if (llg_cluster_parse(msg, len, instance, id, &kind, &rem) != 0 || strcmp(instance, L.instance) == 0)
        return;
    link_key_t *k = find_key(id);
    /* the instance that disabled the key probes it and shares the outcome;
     * the others wait a grace longer, so the cluster probes once (they probe
     * themselves only when no news came, e.g. that instance died) */
    if (kind == LLG_SHARE_DISABLED)
        rem += L.probe_grace_ms;
    if (k != NULL)
        llg_pool_key_apply(L.pool, k->slot, kind, rem, llg_pool_now_ms(), false);
}

/* Another instance's breaker message: its state is applied to the same
 * target here (not counted as a local transition, so not sent back). */
void link_apply_breaker_message(const char *msg, size_t len)
{
    char instance[33], id[33];
    llg_share_kind_t kind;
    uint64_t rem;
    if (llg_cluster_parse(msg, len, instance, id, &kind, &rem) != 0 || strcmp(instance, L.instance) == 0)
        return;
    link_key_t *t = find_in(L.targets, L.ntargets, id);
    if (t != NULL)
        llg_balance_apply(L.pool, L.view, (size_t)t->slot, kind != LLG_SHARE_USABLE, rem, llg_pool_now_ms(), false);
}

static void on_sub_reply(redisAsyncContext *ac, void *r, void *priv)
{
    (void)priv;
    redisReply *reply = r;
    if (!link_reply_ok(ac, reply, "SUBSCRIBE"))
        return;
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 || reply->element[0]->type != REDIS_REPLY_STRING)
        return;
    const char *type = reply->element[0]->str;
    if (strcmp(type, "subscribe") == 0) {
        /* ready once both channels are */
        if (reply->element[2]->type == REDIS_REPLY_INTEGER && reply->element[2]->integer >= 2) {
            L.sub_ready = true;
            link_check_up();
        }
    } else if (strcmp(type, "message") == 0 && reply->element[1]->type == REDIS_REPLY_STRING &&
               reply->element[2]->type == REDIS_REPLY_STRING) {
        if (strcmp(reply->element[1]->str, L.bchannel) == 0)
            link_apply_breaker_message(reply->element[2]->str, reply->element[2]->len);
        else
            link_apply_message(reply->element[2]->str, reply->element[2]->len);
    }
}

/* One live entry of a stored-state hash: its field (an id), the kind letter
 * of its value and the ms left until its wall-clock time. */
typedef void (*state_fn)(const redisReply *field, char kind, uint64_t left_ms, uint64_t now_ms);

/* Walks the reply of HGETALL on `hash` (values "<kind> <wall-clock ms>"):
 * expired entries are deleted through `ac` (none when NULL), the others go to
 * `fn`. */
static void each_state(redisAsyncContext *ac, const redisReply *reply, const char *hash, state_fn fn)
{
    uint64_t wall = wall_ms(), now = llg_pool_now_ms();
    for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i + 1 < reply->elements; i += 2) {
        const redisReply *f = reply->element[i], *v = reply->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING || v->len < 3)
            continue;
        unsigned long long until = strtoull(v->str + 2, NULL, 10);
        if (until <= wall) {
            if (ac != NULL)
                redisAsyncCommand(ac, NULL, NULL, "HDEL %s %b", hash, f->str, f->len);
            continue;
        }
        fn(f, v->str[0], until - wall, now);
    }
}

static void apply_key_state(const redisReply *f, char kind, uint64_t left_ms, uint64_t now_ms)
{
    link_key_t *k = f->len < sizeof(k->id) ? find_key(f->str) : NULL;
    if (k == NULL || (kind != 'c' && kind != 'd'))
        return;
    llg_share_kind_t share = kind == 'd' ? LLG_SHARE_DISABLED : LLG_SHARE_COOLING;
    uint64_t grace = share == LLG_SHARE_DISABLED ? L.probe_grace_ms : 0;
    llg_pool_key_apply(L.pool, k->slot, share, left_ms + grace, now_ms, true);
}

static void apply_breaker_state(const redisReply *f, char kind, uint64_t left_ms, uint64_t now_ms)
{
    link_key_t *t = f->len < sizeof(t->id) ? find_in(L.targets, L.ntargets, f->str) : NULL;
    if (t != NULL && kind == 'c')
        llg_balance_apply(L.pool, L.view, (size_t)t->slot, true, left_ms, now_ms, true);
}

/* The stored key states at connect: each field is a key id, each value
 * "<c|d> <wall-clock ms until which it rests>". Only longer rests are
 * applied. */
void link_apply_states(redisAsyncContext *ac, const redisReply *reply)
{
    each_state(ac, reply, L.hash, apply_key_state);
}

/* The stored breaker states at connect: each field a target id, each value
 * "c <wall-clock ms until which it is open>" (a closed breaker has no
 * entry). Only longer opens are applied. */
void link_apply_breaker_states(redisAsyncContext *ac, const redisReply *reply)
{
    each_state(ac, reply, L.bhash, apply_breaker_state);
}

/* priv: non-NULL for the breakers' hash, read after the keys' (the link is
 * ready then). */
static void on_hgetall(redisAsyncContext *ac, void *r, void *priv)
{
    redisReply *reply = r;
    if (!link_reply_ok(ac, reply, "HGETALL"))
        return;
    if (priv == NULL) {
        link_apply_states(ac, reply);
        return;
    }
    link_apply_breaker_states(ac, reply);
    L.cmd_ready = true;
    link_check_up();
}

static void on_ok(redisAsyncContext *ac, void *r, void *priv)
{
    link_reply_ok(ac, r, priv);
}

static void on_pong(redisAsyncContext *ac, void *r, void *priv)
{
    if (link_reply_ok(ac, r, priv))
        L.ping_pending = false;
}

/* ---- connections ------------------------------------------------------------- */

static void on_connect(const redisAsyncContext *ac, int status)
{
    if (status == REDIS_OK || (ac != L.cmd && ac != L.sub))
        return;
    /* hiredis frees a context whose connect failed */
    if (ac == L.cmd)
        L.cmd = NULL;
    else
        L.sub = NULL;
    link_down(ac->errstr[0] ? ac->errstr : "connect failed");
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    if (ac != L.cmd && ac != L.sub)
        return;
    if (ac == L.cmd)
        L.cmd = NULL;
    else
        L.sub = NULL;
    link_down(ac->errstr[0] ? ac->errstr : "connection closed");
}

/* A new connection (AUTH queued), or NULL with the reason in why[128]. */
static redisAsyncContext *open_one(char *why)
{
    redisAsyncContext *ac =
        L.r->unix_path != NULL ? redisAsyncConnectUnix(L.r->unix_path) : redisAsyncConnect(L.r->host, L.r->port);
    if (ac == NULL) {
        snprintf(why, 128, "out of memory");
        return NULL;
    }
    if (ac->err) {
        snprintf(why, 128, "%s", ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }
    redisLibuvAttach(ac, &L.loop);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    if (L.r->password != NULL) {
        if (L.r->user != NULL)
            redisAsyncCommand(ac, on_ok, "AUTH", "AUTH %s %s", L.r->user, L.r->password);
        else
            redisAsyncCommand(ac, on_ok, "AUTH", "AUTH %s", L.r->password);
    }
    return ac;
}

static void connect_both(void)
{
    char why[128] = "";
    L.connect_started = uv_now(&L.loop);
    L.cmd = open_one(why);
    L.sub = L.cmd != NULL ? open_one(why) : NULL;
    if (L.cmd == NULL || L.sub == NULL) {
        link_down(why);
        return;
    }
    if (L.r->db != 0)
        redisAsyncCommand(L.cmd, on_ok, "SELECT", "SELECT %u", L.r->db);
    redisAsyncCommand(L.cmd, on_hgetall, NULL, "HGETALL %s", L.hash);
    redisAsyncCommand(L.cmd, on_hgetall, L.bhash, "HGETALL %s", L.bhash);
    redisAsyncCommand(L.sub, on_sub_reply, NULL, "SUBSCRIBE %s %s", L.channel, L.bchannel);
}

/* The pending error of a connection's socket, 0 when none. hiredis 0.14's
 * libuv adapter drops a poll error (its callback returns on a non-zero
 * status and libuv has stopped the poll): a refused connect or a reset is
 * never reported by hiredis, so the watchdog reads it here. */
static int socket_error(const redisAsyncContext *ac)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (ac == NULL || ac->c.fd < 0 || getsockopt(ac->c.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
        return 0;
    return err;
}

/* Connect and reply timeouts: cluster.redis.timeout; socket errors. */
static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    uint64_t now = uv_now(&L.loop);
    if (L.cmd == NULL)
        return;
    int err = socket_error(L.cmd);
    if (err == 0)
        err = socket_error(L.sub);
    if (err != 0) {
        link_down(strerror(err));
        return;
    }
    if (!L.up) {
        if (now - L.connect_started > L.r->timeout_ms)
            link_down("no answer within cluster.redis.timeout");
        return;
    }
    if (L.ping_pending && now - L.ping_sent > L.r->timeout_ms) {
        link_down("no reply within cluster.redis.timeout");
    } else if (!L.ping_pending && now - L.last_ping >= PING_EVERY_MS) {
        L.ping_pending = true;
        L.ping_sent = L.last_ping = now;
        redisAsyncCommand(L.cmd, on_pong, "PING", "PING");
    }
}

static void on_sigterm(uv_signal_t *h, int sig)
{
    (void)h;
    (void)sig;
    uv_stop(&L.loop);
}

int link_init(const llg_conf_t *conf, llg_pool_t *pool, const llg_pool_view_t *view)
{
    memset(&L, 0, sizeof(L));
    L.r = &conf->cluster.redis;
    L.pool = pool;
    L.view = view;
    L.backoff_ms = BACKOFF_MIN_MS;
    unsigned char rnd[8];
    /* a probe lasts at most the request timeout; a grace of that plus
     * margin lets the owner's outcome arrive first */
    L.probe_grace_ms = (conf->timeouts.request_ms ? conf->timeouts.request_ms : conf->keys.probe_after_ms) + 2000;
    if (RAND_bytes(rnd, sizeof(rnd)) != 1 || build_keys(conf, view) != 0 || build_targets(view) != 0 ||
        link_usage_init(conf, view, pool) != 0 || link_rpm_init(conf, view, pool) != 0)
        return -1;
    hex(rnd, sizeof(rnd), L.instance);
    snprintf(L.channel, sizeof(L.channel), "%skeys", L.r->prefix);
    snprintf(L.hash, sizeof(L.hash), "%skeystate", L.r->prefix);
    snprintf(L.bchannel, sizeof(L.bchannel), "%sbreakers", L.r->prefix);
    snprintf(L.bhash, sizeof(L.bhash), "%sbreakerstate", L.r->prefix);
    return 0;
}

_Noreturn void llg_cluster_run(const llg_conf_t *conf, const llg_listeners_t *listeners, llg_pool_t *pool,
                               const llg_pool_view_t *view)
{
    pid_t master = getppid();
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != master)
        exit(0);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    for (size_t i = 0; i < listeners->count; i++)
        if (listeners->items[i].fd >= 0)
            close(listeners->items[i].fd); /* the link serves no client */

    if (link_init(conf, pool, view) != 0) {
        llg_error("cluster: cannot start the link (out of memory or no randomness)");
        exit(1);
    }

    uv_loop_init(&L.loop);
    uv_timer_init(&L.loop, &L.poll);
    uv_timer_init(&L.loop, &L.retry);
    uv_timer_init(&L.loop, &L.watchdog);
    uv_signal_init(&L.loop, &L.sigterm);
    uv_signal_start(&L.sigterm, on_sigterm, SIGTERM);
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    uv_timer_start(&L.poll, on_poll, POLL_MS, POLL_MS);
    uint64_t wd = L.r->timeout_ms / 4 < 10 ? 10 : L.r->timeout_ms / 4 > 250 ? 250 : L.r->timeout_ms / 4;
    uv_timer_start(&L.watchdog, on_watchdog, wd, wd);
    llg_pool_set_cluster_state(pool, LLG_CLUSTER_DOWN);
    connect_both();
    uv_run(&L.loop, UV_RUN_DEFAULT);
    exit(0);
}
