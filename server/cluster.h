/*
 * server/cluster.h: the cluster link (docs/cluster.md): one child process
 * that the master forks when `cluster:` is configured. It owns the two Redis
 * connections (commands, SUBSCRIBE), shares the key health transitions and
 * the model groups' breaker transitions that this instance's workers make
 * (read from the pool's change counters) and applies those of the other
 * instances to the pool. Workers never talk to
 * Redis: a request only reads and writes shared memory.
 */
#ifndef LLG_CLUSTER_H
#define LLG_CLUSTER_H

#include "conf/conf.h"
#include "pool/pool.h"
#include "server/listener.h"

/* The master's index of the link among its children (workers are 0..n-1). */
#define LLG_CLUSTER_LINK_INDEX 0xffffffffu

/* Runs the link until SIGTERM or the master's death; never returns. */
_Noreturn void llg_cluster_run(const llg_conf_t *conf, const llg_listeners_t *listeners, llg_pool_t *pool,
                               const llg_pool_view_t *view);

/* The message published for a key state change, into `out` (NUL-ended):
 * "1 <instance> <key id> <u|c|d> <remaining ms>". Its length, or -1. */
int llg_cluster_format(char *out, size_t size, const char *instance, const char *key_id, llg_share_kind_t kind,
                       uint64_t remaining_ms);

/* Parses such a message; `instance` and `key_id` get at most 32 characters
 * and a NUL (buffers of 33). 0, or -1 when it is not one. */
int llg_cluster_parse(const char *msg, size_t len, char instance[33], char key_id[33], llg_share_kind_t *kind,
                      uint64_t *remaining_ms);

#endif
