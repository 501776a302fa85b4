/*
 * server/worker.h: a worker process: one libuv loop with h2o serving every
 * listener inherited from the master. SIGTERM makes it drain: stop accepting,
 * let in-flight requests and streams finish (bounded by timeouts.drain), close
 * idle connections at once, then exit 0.
 */
#ifndef LLG_WORKER_H
#define LLG_WORKER_H

#include "conf/conf.h"
#include "pool/pool.h"
#include "server/listener.h"

/* Runs in the child after fork(); never returns. The caller has blocked
 * SIGTERM, SIGINT, SIGHUP and SIGCHLD; the worker installs its own handling
 * and unblocks them. */
void llg_worker_run(const llg_conf_t *conf, const llg_listeners_t *listeners, llg_pool_t *pool, const llg_pool_view_t *view,
                    unsigned index, unsigned generation) __attribute__((noreturn));

#endif
