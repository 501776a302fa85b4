/*
 * server/cluster_link.h: what the files of the cluster link process share
 * (not used by workers). cluster.c owns the connections and the messages of
 * key and breaker state; cluster_usage.c sends this host's usage and reads
 * the cluster's totals; cluster_rpm.c takes the rpm credits of access tokens.
 * The link is single-threaded: these run on its one uv loop.
 */
#ifndef LLG_CLUSTER_LINK_H
#define LLG_CLUSTER_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include <hiredis/async.h>

#include "conf/conf.h"
#include "pool/pool.h"

#define LINK_ID_BYTES 16

/* An entry named in Redis by a keyed hash: a key (slot >= 0) or a token
 * (token >= 0, its config index). */
typedef struct link_key {
    char id[2 * LINK_ID_BYTES + 1]; /* hex of the keyed hash */
    int32_t slot;
    uint32_t seen; /* the change count last published */
} link_key_t;

/* Sets the link's state up for `conf` (no connection yet). 0 or -1. */
int link_init(const llg_conf_t *conf, llg_pool_t *pool, const llg_pool_view_t *view);

/* Applies another instance's key-state message (PUBLISH text). */
void link_apply_message(const char *msg, size_t len);

/* Applies the stored key states (the reply of HGETALL <prefix>keystate);
 * expired entries are deleted through `ac` (none when NULL). */
void link_apply_states(redisAsyncContext *ac, const redisReply *reply);

/* Likewise for model groups' breakers: a message of <prefix>breakers, and
 * the reply of HGETALL <prefix>breakerstate. */
void link_apply_breaker_message(const char *msg, size_t len);
void link_apply_breaker_states(redisAsyncContext *ac, const redisReply *reply);

/* The command connection while the link is up, else NULL. */
redisAsyncContext *link_cmd(void);

/* A reply of the command connection: false (after dropping the link) when it
 * is an error or the connection went away; also false, without dropping, for
 * the replies a freed context flushes. */
bool link_reply_ok(redisAsyncContext *ac, redisReply *reply, const char *what);

/* The configured `prefix` of every Redis key. */
const char *link_prefix(void);

/* The keyed hash of (domain, secret) in hex: every instance of the cluster
 * computes the same id, and Redis never sees the secret (docs/cluster.md). */
void link_id(const char *domain, const char *secret, char out[2 * LINK_ID_BYTES + 1]);

/* The keys, sorted by id. */
const link_key_t *link_keys(size_t *count);

/* cluster_usage.c: called at start, at every poll while up, and when the
 * link comes up. */
int link_usage_init(const llg_conf_t *conf, const llg_pool_view_t *view, llg_pool_t *pool);
void link_usage_poll(uint64_t now_ms);

/* Reads the reply of HGETALL of the day's hash (`month` false) or the
 * month's; after the month's, stores the totals in the pool for `day` and
 * `month` (llg_pool_utc_day/month numbers). */
void link_usage_read(const redisReply *reply, bool month, uint64_t day, uint64_t mon);

/* cluster_rpm.c: likewise; link_rpm_down() forgets requests in flight. */
int link_rpm_init(const llg_conf_t *conf, const llg_pool_view_t *view, llg_pool_t *pool);
void link_rpm_poll(uint64_t now_ms);
void link_rpm_down(void);

/* The reply of the GCRA script for the i-th token with an rpm (of
 * link_rpm_count()): stores the credits granted. */
size_t link_rpm_count(void);
void link_rpm_taken(size_t i, const redisReply *reply);

#endif
