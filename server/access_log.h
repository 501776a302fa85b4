/*
 * server/access_log.h: the access log (docs/observability.md): one line per
 * finished request, text or JSON, to stderr or a file.
 *
 * Each worker has its own writer. Lines go to a buffer that is written out
 * when it holds LLG_ACCESS_FLUSH_BYTES or after LLG_ACCESS_FLUSH_MS, never
 * blocking the loop: stderr is reopened non-blocking when it is a pipe or a
 * terminal (its own open file description, so the master's stderr is not
 * touched), a socket is written with MSG_DONTWAIT; a write that would block
 * is retried at the next flush, and lines past LLG_ACCESS_MAX_PENDING are
 * dropped and counted (llmgate_access_log_dropped_lines_total). Writes to a pipe are cut at line ends and at most
 * PIPE_BUF bytes, so lines of different workers never interleave.
 */
#ifndef LLG_ACCESS_LOG_H
#define LLG_ACCESS_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "h2o.h"
#include "providers/strbuf.h"
#include "server/app.h"
#include "server/reqlog.h"

#define LLG_ACCESS_FLUSH_BYTES (32 * 1024)
#define LLG_ACCESS_FLUSH_MS    100
#define LLG_ACCESS_MAX_PENDING (4 * 1024 * 1024)

/* A finished request as the logger measured it. */
typedef struct llg_access {
    llg_reqlog_t *rec; /* NULL: answered by h2o before the handler saw it */
    uint64_t now_us;
    uint64_t duration_us, ttfb_us;
    int status; /* 499: the client left before the answer was done */
} llg_access_t;

typedef struct llg_access_log llg_access_log_t;

/* The worker's writer, or NULL when the access log is off (disabled, or on
 * stderr at a log level above info). A file that cannot be opened is
 * reported once; its lines are dropped (and counted) until a reopen
 * (SIGUSR1) succeeds. */
llg_access_log_t *llg_access_log_new(const llg_conf_t *conf, llg_pool_t *pool, uv_loop_t *loop);

/* Appends the request's line. */
void llg_access_log_write(llg_access_log_t *log, llg_app_t *app, h2o_req_t *req, const llg_access_t *a);

/* Writes what is pending and reopens a file (SIGUSR1: logrotate moved it). */
void llg_access_log_reopen(llg_access_log_t *log);

/* The worker's exit: writes what is pending, waiting up to `wait_ms` for an
 * output that is full, and closes the output (the loop has stopped). */
void llg_access_log_finish(llg_access_log_t *log, unsigned wait_ms);

/* access_format.c: the line of a request in `format` (with its newline). */
void llg_access_format(llg_strbuf_t *b, llg_access_log_format_t format, llg_app_t *app, h2o_req_t *req, const llg_access_t *a);

#endif
