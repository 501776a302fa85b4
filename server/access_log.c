/*
 * server/access_log.c: the worker's access log writer (see access_log.h):
 * the output's file descriptor, the buffer of pending lines, and writing
 * them out without ever blocking the loop.
 */
#include "server/access_log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "server/http.h"
#include "server/log.h"

struct llg_access_log {
    const char *path; /* NULL: stderr */
    llg_access_log_format_t format;
    int fd;       /* -1: closed (a file that could not be reopened) */
    bool regular; /* a regular file: one write of everything pending */
    bool socket;  /* send(MSG_DONTWAIT) */
    bool own_fd;  /* opened here (closed on reopen and at the end) */
    llg_strbuf_t pending;
    uv_timer_t timer;
    bool timer_armed;
    llg_pool_t *pool; /* the dropped lines' counter */
    bool warned;
};

/* Opens the output: the file (appending), or a non-blocking description of
 * stderr of its own when stderr is a pipe or a terminal. */
static void open_output(llg_access_log_t *log)
{
    log->fd = -1;
    log->own_fd = false;
    log->regular = log->socket = false;
    struct stat st;
    if (log->path != NULL) {
        log->fd = open(log->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        if (log->fd < 0) {
            llg_error("access_log: cannot open %s: %s", log->path, strerror(errno));
            return;
        }
        log->own_fd = true;
    } else if (fstat(2, &st) == 0 && S_ISSOCK(st.st_mode)) {
        log->fd = 2;
        log->socket = true;
        return;
    } else if (fstat(2, &st) == 0 && (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode))) {
        /* a description of its own: O_NONBLOCK on fd 2 itself would be
         * shared with the master and every process that inherited it */
        int fd = open("/proc/self/fd/2", O_WRONLY | O_APPEND | O_NONBLOCK | O_CLOEXEC);
        if (fd >= 0) {
            log->fd = fd;
            log->own_fd = true;
        } else {
            log->fd = 2;
        }
    } else {
        log->fd = 2;
    }
    log->regular = fstat(log->fd, &st) == 0 && S_ISREG(st.st_mode);
}

llg_access_log_t *llg_access_log_new(const llg_conf_t *conf, llg_pool_t *pool, uv_loop_t *loop)
{
    const llg_conf_access_log_t *c = &conf->access_log;
    if (!c->enabled || (c->path == NULL && !llg_log_enabled(LLG_LOG_INFO)))
        return NULL;
    llg_access_log_t *log = calloc(1, sizeof(*log));
    if (log == NULL)
        return NULL;
    log->pool = pool;
    log->path = c->path;
    log->format = c->format;
    open_output(log);
    uv_timer_init(loop, &log->timer);
    log->timer.data = log;
    uv_unref((uv_handle_t *)&log->timer);
    return log;
}

/* One write of at most `n` bytes; the bytes written, 0 when it would block,
 * -1 on an error that drops the output's pending lines. */
static ssize_t write_some(llg_access_log_t *log, const char *p, size_t n)
{
    for (;;) {
        ssize_t w = log->socket ? send(log->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL) : write(log->fd, p, n);
        if (w >= 0)
            return w;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        return -1;
    }
}

/* Writes out what it can of the pending lines. Returns true when all went. */
static bool flush(llg_access_log_t *log)
{
    size_t off = 0;
    llg_strbuf_t *b = &log->pending;
    while (off < b->len && log->fd >= 0) {
        size_t n = b->len - off;
        if (!log->regular && n > PIPE_BUF) {
            /* whole lines, at most PIPE_BUF: atomic on a pipe */
            const char *end = b->data + off + PIPE_BUF;
            while (end > b->data + off && end[-1] != '\n')
                end--;
            n = end > b->data + off ? (size_t)(end - (b->data + off)) : PIPE_BUF;
        }
        ssize_t w = write_some(log, b->data + off, n);
        if (w == 0)
            break;
        if (w < 0) {
            if (!log->warned)
                llg_warn("access_log: write failed: %s; lines are dropped", strerror(errno));
            log->warned = true;
            off = b->len;
            break;
        }
        off += (size_t)w;
    }
    if (off > 0) {
        memmove(b->data, b->data + off, b->len - off);
        b->len -= off;
    }
    return b->len == 0;
}

static void on_timer(uv_timer_t *t)
{
    llg_access_log_t *log = t->data;
    log->timer_armed = false;
    if (!flush(log)) {
        log->timer_armed = true;
        uv_timer_start(&log->timer, on_timer, LLG_ACCESS_FLUSH_MS, 0);
    }
}

void llg_access_log_write(llg_access_log_t *log, llg_app_t *app, h2o_req_t *req, const llg_access_t *a)
{
    if (log->fd < 0 || log->pending.len >= LLG_ACCESS_MAX_PENDING) {
        llg_pool_obs_add(log->pool, LLG_OBS_ACCESS_LOG_DROPPED, 1);
        return;
    }
    llg_access_format(&log->pending, log->format, app, req, a);
    if (log->pending.len >= LLG_ACCESS_FLUSH_BYTES && flush(log))
        return;
    if (!log->timer_armed) {
        log->timer_armed = true;
        uv_timer_start(&log->timer, on_timer, LLG_ACCESS_FLUSH_MS, 0);
    }
}

void llg_access_log_reopen(llg_access_log_t *log)
{
    flush(log);
    if (log->path == NULL)
        return;
    if (log->own_fd && log->fd >= 0)
        close(log->fd);
    open_output(log);
}

void llg_access_log_finish(llg_access_log_t *log, unsigned wait_ms)
{
    uv_timer_stop(&log->timer);
    uint64_t until = llg_http_now_us() + (uint64_t)wait_ms * 1000;
    while (!flush(log) && log->fd >= 0) {
        uint64_t now = llg_http_now_us();
        if (now >= until)
            break;
        struct pollfd pfd = {.fd = log->fd, .events = POLLOUT};
        poll(&pfd, 1, (int)((until - now) / 1000) + 1);
    }
    uint64_t lost = 0;
    for (size_t i = 0; i < log->pending.len; i++)
        lost += log->pending.data[i] == '\n';
    if (lost > 0)
        llg_pool_obs_add(log->pool, LLG_OBS_ACCESS_LOG_DROPPED, lost);
    if (log->own_fd && log->fd >= 0)
        close(log->fd);
    log->fd = -1;
}
