/*
 * tests/bench/loadgen.c: the HTTP/1.1 load generator and streaming client of
 * llmgate's benchmarks (tests/bench/run.sh, docs/benchmarks.md). One thread,
 * one epoll loop, many keep-alive connections; prints one JSON object.
 *
 *   loadgen closed --url URL --conns N --duration S [--warmup S] [--reconnect 1]
 *       N connections, each sends its next request as soon as the previous
 *       answer is complete; latency = answer complete - request sent. With
 *       --reconnect 1 every request gets a new connection and its latency
 *       counts from connect(). --pause-ms MS: each connection waits MS
 *       between an answer and its next request (a sporadic client).
 *   loadgen rate --url URL --rate R --duration S [--warmup S] [--conns MAX]
 *       open loop: request i is due at t0 + i/R whatever the answers do; it
 *       goes out on the longest-idle connection (MAX, opened up front) or
 *       waits for one; latency = answer complete - the time it was due, so a
 *       server that falls behind is charged for the queue (no coordinated
 *       omission); when a connection was free at the due time, latency
 *       counts from the send instead (the client's own wake-up lateness is
 *       not the server's). Also reports the latency from the send
 *       (sent_p50/p99_us) and how late requests went out (late_p50/p99_us).
 *   loadgen stream --url URL --streams N [--total T] [--ramp-ms MS]
 *                  [--chunks K] [--timeout S] [--pss-pids P,P]
 *       N concurrent streaming requests (T in all, reusing connections) to an
 *       llmgate-mock scenario with stamp=true: every content event carries
 *       [t=<CLOCK_MONOTONIC us>] of the moment the mock wrote it. Each SSE
 *       event is timestamped when read; reports time to first content event,
 *       per-chunk delay (read time - mock's stamp), the gap between
 *       consecutive content events of a stream, and whether each stream got
 *       exactly K content events, one stamp per event, and its end ([DONE];
 *       Anthropic's Messages API: the message_stop event, and a content
 *       event is a text_delta whose text carries the stamp; OpenAI's
 *       Responses API: the response.completed event, and only the
 *       response.output_text.delta events are content events, the others
 *       repeat the whole text; an answer of type application/x-ndjson, as
 *       Ollama's /api/chat: every line is an event, the end is the line with
 *       "done":true).
 *       With --pss-pids, sums Pss (/proc/PID/smaps_rollup) of those processes
 *       once all N streams are in flight (each has its first content event);
 *       when that moment never comes (a slow server), at the 100 ms sample
 *       with the most streams sent and not yet complete (pss_inflight).
 *
 * Common: --header 'Name: value' (repeatable), --body-file FILE or --body STR
 * (POST; without a body: GET). --url may be given up to 16 times (the same
 * path, other ports: several instances behind no balancer): connection i
 * goes to URL i mod the number of URLs, the Host header is the first URL's. Any non-2xx answer, socket error or timeout is
 * counted in "errors"; the exit status is 1 when errors > 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RBUF 65536

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("loadgen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* ---- growable arrays of samples (nanoseconds) ---- */
struct vec {
    int64_t *v;
    size_t n, cap;
};

static void vpush(struct vec *a, int64_t x)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 4096;
        a->v = realloc(a->v, a->cap * sizeof(*a->v));
        if (a->v == NULL)
            die("out of memory");
    }
    a->v[a->n++] = x;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* percentile q (0..1) in microseconds, nearest rank; -1 when empty */
static double pct(struct vec *a, double q)
{
    if (a->n == 0)
        return -1;
    size_t i = (size_t)(q * (double)a->n);
    if (i >= a->n)
        i = a->n - 1;
    return (double)a->v[i] / 1000.0;
}

static double mean_us(const struct vec *a)
{
    if (a->n == 0)
        return -1;
    double s = 0;
    for (size_t i = 0; i < a->n; i++)
        s += (double)a->v[i];
    return s / (double)a->n / 1000.0;
}

/* ---- options ---- */
enum mode { M_CLOSED, M_RATE, M_STREAM };
static enum mode mode;
#define MAX_URLS 16
static struct sockaddr_in addrs[MAX_URLS];
static int naddrs;
static char host[128], path[2048];
static char *req;
static size_t req_len;
static int nconns = 1, nstreams = 1, total = 0, expect_chunks = 0;
static double duration = 2, warmup = 0, rate = 1000, timeout_s = 30, ramp_ms = 0;
static char *pss_pids;
static bool reconnect;
static uint64_t pause_ns;

/* ---- results ---- */
static struct vec lat, svc, late, ttft, delay, gap;
static uint64_t completed, measured, non2xx, sock_errors, timeouts, merged, lost_chunks, streams_ok, streams_bad, content_events,
    missing_done, reconnects;
static long pss_kb = -1;
static int pss_inflight;
static bool pss_final;
static uint64_t pss_next;
static char first_error[256];

static void note_error(const char *fmt, ...)
{
    if (first_error[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(first_error, sizeof(first_error), fmt, ap);
    va_end(ap);
}

/* ---- connections ---- */
enum cstate { C_CLOSED, C_CONNECTING, C_IDLE, C_BUSY };
enum bstate { B_HEAD, B_CHUNK_SIZE, B_CHUNK_DATA, B_CHUNK_CRLF, B_TRAILER, B_LENGTH, B_EOF, B_DONE };

struct conn {
    int fd;
    enum cstate state;
    size_t wpos;
    bool want_out;
    /* the response being read */
    enum bstate bs;
    char head[16384];
    size_t head_len;
    int status;
    bool close_after;
    uint64_t left; /* content-length or chunk bytes left */
    char line[64];
    size_t line_len;
    uint64_t t_due, t_sent; /* latency counted from (rate), and when sent */
    uint64_t t_sched;       /* rate mode: when the request was due */
    uint64_t t_conn;        /* when connect() was called */
    uint64_t wake_at;       /* closed mode with --pause-ms: when to go on */
    /* stream mode */
    bool streaming_started, in_flight_counted;
    bool ndjson; /* content-type application/x-ndjson: an event per line */
    char *sse;
    size_t sse_len, sse_cap, sse_scan;
    uint32_t events, stamps;
    bool done_seen;
    uint64_t last_event;
    struct conn *next_idle;
    uint64_t idle_at; /* rate mode: when it became idle */
};

static int ep;
static struct conn *conns;
static struct conn *idle_head, *idle_tail; /* rate mode: FIFO, the longest idle first */
static int started_streams, finished_streams, with_first;

static void set_out(struct conn *c, bool on)
{
    if (c->want_out == on)
        return;
    c->want_out = on;
    struct epoll_event e = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
}

static void conn_open(struct conn *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        die("socket: %s", strerror(errno));
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->t_conn = now_ns();
    const struct sockaddr_in *addr = &addrs[(c - conns) % naddrs];
    int r = connect(c->fd, (const struct sockaddr *)addr, sizeof(*addr));
    if (r < 0 && errno != EINPROGRESS) {
        sock_errors++;
        note_error("connect: %s", strerror(errno));
        close(c->fd);
        c->fd = -1;
        c->state = C_CLOSED;
        return;
    }
    c->state = C_CONNECTING;
    c->want_out = true;
    struct epoll_event e = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &e);
}

static void conn_close(struct conn *c)
{
    if (c->fd >= 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
    }
    c->fd = -1;
    c->state = C_CLOSED;
}

static void reset_response(struct conn *c)
{
    c->bs = B_HEAD;
    c->head_len = 0;
    c->status = 0;
    c->close_after = false;
    c->left = 0;
    c->line_len = 0;
    c->sse_len = c->sse_scan = 0;
    c->events = c->stamps = 0;
    c->done_seen = false;
    c->ndjson = false;
    c->streaming_started = false;
    c->in_flight_counted = false;
}

/* writes the request (or the rest of it); false when the connection failed */
static bool send_req(struct conn *c)
{
    while (c->wpos < req_len) {
        ssize_t w = send(c->fd, req + c->wpos, req_len - c->wpos, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                set_out(c, true);
                return true;
            }
            sock_errors++;
            note_error("send: %s", strerror(errno));
            return false;
        }
        c->wpos += (size_t)w;
    }
    set_out(c, false);
    return true;
}

static void start_req(struct conn *c, uint64_t due)
{
    reset_response(c);
    c->state = C_BUSY;
    c->wpos = 0;
    c->t_due = due;
    c->t_sent = reconnect ? c->t_conn : now_ns();
    if (!send_req(c))
        conn_close(c);
}

/* ---- SSE events and NDJSON lines (stream mode) ---- */
#define HAS(lit) (memmem(p, n, lit, sizeof(lit) - 1) != NULL)

static void on_event(struct conn *c, const char *p, size_t n, uint64_t t)
{
    /* the end of a stream: OpenAI's [DONE], Anthropic's message_stop event,
     * the Responses API's response.completed event, Ollama's last line */
    if (c->ndjson ? HAS("\"done\":true")
                  : HAS("[DONE]") || HAS("\"type\":\"message_stop\"") || HAS("\"type\":\"response.completed\"")) {
        c->done_seen = true;
        return;
    }
    /* the Responses API's events other than the text deltas (the .done
     * events, the items) carry the whole text so far: not content events */
    if (!c->ndjson && HAS("\"type\":\"response.") && !HAS("\"type\":\"response.output_text.delta\""))
        return;
    const char *s = memmem(p, n, "[t=", 3);
    if (s == NULL)
        return;
    uint32_t k = 0;
    uint64_t stamp = 0;
    for (const char *q = s; q != NULL; q = memmem(q + 3, (size_t)(p + n - (q + 3)), "[t=", 3)) {
        if (k == 0) {
            for (const char *d = q + 3; d < p + n && *d >= '0' && *d <= '9'; d++)
                stamp = stamp * 10 + (uint64_t)(*d - '0');
        }
        k++;
        if ((size_t)(p + n - (q + 3)) < 3)
            break;
    }
    if (k > 1)
        merged++;
    c->stamps += k;
    c->events++;
    content_events++;
    vpush(&delay, (int64_t)t - (int64_t)(stamp * 1000));
    if (c->events == 1) {
        vpush(&ttft, (int64_t)(t - c->t_sent));
        with_first++;
    } else {
        vpush(&gap, (int64_t)(t - c->last_event));
    }
    c->last_event = t;
}

static void sse_feed(struct conn *c, const char *p, size_t n, uint64_t t)
{
    if (c->sse_len + n > c->sse_cap) {
        c->sse_cap = (c->sse_len + n) * 2;
        c->sse = realloc(c->sse, c->sse_cap);
        if (c->sse == NULL)
            die("out of memory");
    }
    memcpy(c->sse + c->sse_len, p, n);
    c->sse_len += n;
    size_t start = 0;
    size_t i = c->sse_scan;
    if (c->ndjson) {
        /* a line is an event */
        for (char *nl; i < c->sse_len && (nl = memchr(c->sse + i, '\n', c->sse_len - i)) != NULL;) {
            size_t j = (size_t)(nl - c->sse) + 1;
            if (j - start > 1)
                on_event(c, c->sse + start, j - start, t);
            start = i = j;
        }
        i = c->sse_len;
    }
    while (i < c->sse_len) {
        char *nl = memchr(c->sse + i, '\n', c->sse_len - i);
        if (nl == NULL) {
            i = c->sse_len;
            break;
        }
        size_t j = (size_t)(nl - c->sse) + 1;
        /* an empty line ends the event: "\n\n" or "\n\r\n" */
        if (j < c->sse_len && c->sse[j] == '\n') {
            on_event(c, c->sse + start, j - start, t);
            start = i = j + 1;
        } else if (j + 1 < c->sse_len && c->sse[j] == '\r' && c->sse[j + 1] == '\n') {
            on_event(c, c->sse + start, j - start, t);
            start = i = j + 2;
        } else if (j >= c->sse_len || (c->sse[j] == '\r' && j + 1 >= c->sse_len)) {
            i = (size_t)(nl - c->sse); /* look at this newline again with more bytes */
            break;
        } else {
            i = j;
        }
    }
    if (start > 0) {
        memmove(c->sse, c->sse + start, c->sse_len - start);
        c->sse_len -= start;
        i -= start;
    }
    c->sse_scan = i;
}

static void body_bytes(struct conn *c, const char *p, size_t n, uint64_t t)
{
    if (mode == M_STREAM && n > 0)
        sse_feed(c, p, n, t);
}

/* ---- response parsing ---- */
static bool parse_head(struct conn *c)
{
    c->head[c->head_len] = '\0';
    if (strncmp(c->head, "HTTP/1.", 7) != 0 || c->head_len < 12)
        return false;
    c->status = atoi(c->head + 9);
    bool chunked = false;
    long long clen = -1;
    c->close_after = c->head[7] == '0';
    for (char *l = strstr(c->head, "\r\n"); l != NULL && l[2] != '\r'; l = strstr(l + 2, "\r\n")) {
        char *h = l + 2;
        if (strncasecmp(h, "content-length:", 15) == 0)
            clen = atoll(h + 15);
        else if (strncasecmp(h, "transfer-encoding:", 18) == 0) {
            char *e = strstr(h, "\r\n");
            if (e && memmem(h, (size_t)(e - h), "chunked", 7))
                chunked = true;
        } else if (strncasecmp(h, "content-type:", 13) == 0) {
            char *e = strstr(h, "\r\n");
            if (e && memmem(h, (size_t)(e - h), "application/x-ndjson", 20))
                c->ndjson = true;
        } else if (strncasecmp(h, "connection:", 11) == 0) {
            char *e = strstr(h, "\r\n");
            for (char *q = h + 11; e && q + 5 <= e; q++)
                if (strncasecmp(q, "close", 5) == 0)
                    c->close_after = true;
        }
    }
    if (chunked)
        c->bs = B_CHUNK_SIZE;
    else if (clen >= 0) {
        c->left = (uint64_t)clen;
        c->bs = clen == 0 ? B_DONE : B_LENGTH;
    } else {
        c->bs = B_EOF;
        c->close_after = true;
    }
    return true;
}

/* consumes bytes of the response; returns bytes used (all unless done) or -1 */
static ssize_t consume(struct conn *c, const char *p, size_t n, uint64_t t)
{
    size_t i = 0;
    while (i < n && c->bs != B_DONE) {
        switch (c->bs) {
        case B_HEAD: {
            /* copy until the blank line */
            size_t room = sizeof(c->head) - 1 - c->head_len;
            size_t take = n - i < room ? n - i : room;
            if (take == 0)
                return -1;
            memcpy(c->head + c->head_len, p + i, take);
            size_t old = c->head_len;
            c->head_len += take;
            char *e = memmem(c->head, c->head_len, "\r\n\r\n", 4);
            if (e == NULL) {
                i += take;
                break;
            }
            size_t hl = (size_t)(e - c->head) + 4;
            i += hl - old;
            c->head_len = hl;
            if (!parse_head(c))
                return -1;
            if (c->status == 100) { /* 100 Continue: the real head follows */
                c->bs = B_HEAD;
                c->head_len = 0;
            }
            break;
        }
        case B_CHUNK_SIZE:
        case B_TRAILER: {
            char ch = p[i++];
            if (ch != '\n') {
                if (c->line_len < sizeof(c->line) - 1)
                    c->line[c->line_len++] = ch;
                break;
            }
            c->line[c->line_len] = '\0';
            if (c->line_len > 0 && c->line[c->line_len - 1] == '\r')
                c->line[--c->line_len] = '\0';
            if (c->bs == B_TRAILER) {
                if (c->line_len == 0)
                    c->bs = B_DONE;
                c->line_len = 0;
                break;
            }
            char *end;
            unsigned long long sz = strtoull(c->line, &end, 16);
            if (end == c->line)
                return -1;
            c->line_len = 0;
            if (sz == 0)
                c->bs = B_TRAILER;
            else {
                c->left = sz;
                c->bs = B_CHUNK_DATA;
            }
            break;
        }
        case B_CHUNK_DATA:
        case B_LENGTH: {
            size_t take = n - i < c->left ? n - i : (size_t)c->left;
            body_bytes(c, p + i, take, t);
            i += take;
            c->left -= take;
            if (c->left == 0)
                c->bs = c->bs == B_LENGTH ? B_DONE : B_CHUNK_CRLF;
            break;
        }
        case B_CHUNK_CRLF:
            if (p[i] == '\n')
                c->bs = B_CHUNK_SIZE;
            else if (p[i] != '\r')
                return -1;
            i++;
            break;
        case B_EOF:
            body_bytes(c, p + i, n - i, t);
            i = n;
            break;
        case B_DONE:
            break;
        }
    }
    return (ssize_t)i;
}

/* ---- the modes' decisions ---- */
static uint64_t t0, t_measure, t_end, t_hard_end, period_ns;
static uint64_t issued; /* rate mode: requests sent so far */
static bool stop_sending;

static void finish_stream(struct conn *c, bool ok_response)
{
    finished_streams++;
    bool good = ok_response && c->events == (uint32_t)expect_chunks && c->stamps == c->events && c->done_seen;
    if (ok_response && !c->done_seen)
        missing_done++;
    if (c->events < (uint32_t)expect_chunks)
        lost_chunks += (uint32_t)expect_chunks - c->events;
    if (good)
        streams_ok++;
    else {
        streams_bad++;
        if (ok_response)
            note_error("stream: %u content events, %u stamps, done=%d (expected %d)", c->events, c->stamps, c->done_seen,
                       expect_chunks);
    }
}

static void next_work(struct conn *c);

static void response_done(struct conn *c, uint64_t t)
{
    completed++;
    bool ok = c->status >= 200 && c->status < 300;
    if (!ok) {
        non2xx++;
        note_error("HTTP status %d", c->status);
    }
    if (mode == M_STREAM)
        finish_stream(c, ok);
    else if (ok) {
        uint64_t from = mode == M_RATE ? c->t_due : c->t_sent;
        uint64_t ref = mode == M_RATE ? c->t_sched : c->t_sent;
        if (ref >= t_measure && ref < t_end) {
            vpush(&lat, (int64_t)(t - from));
            if (mode == M_RATE) {
                vpush(&svc, (int64_t)(t - c->t_sent));
                vpush(&late, (int64_t)(c->t_sent - c->t_sched));
            }
            measured++;
        }
    }
    c->state = C_IDLE;
    if (c->close_after || reconnect) {
        conn_close(c);
        reconnects++;
    }
    if (mode == M_CLOSED && pause_ns) {
        /* --pause-ms: idle before the next request (the main loop resumes) */
        c->wake_at = t + pause_ns;
        return;
    }
    next_work(c);
}

static void conn_failed(struct conn *c, const char *what)
{
    bool was_busy = c->state == C_BUSY;
    if (was_busy || c->state == C_CONNECTING) {
        sock_errors++;
        note_error("%s", what);
        if (mode == M_STREAM && was_busy)
            finish_stream(c, false);
        else if (mode == M_STREAM)
            finished_streams++, streams_bad++, lost_chunks += (uint64_t)expect_chunks;
    }
    conn_close(c);
    if (mode == M_STREAM)
        next_work(c);
}

static void next_work(struct conn *c)
{
    uint64_t t = now_ns();
    switch (mode) {
    case M_CLOSED:
        if (t >= t_end || stop_sending) {
            if (c->fd >= 0)
                conn_close(c);
            c->wake_at = 0;
            return;
        }
        if (c->fd < 0) {
            conn_open(c);
            return;
        }
        start_req(c, t);
        return;
    case M_RATE:
        if (c->fd < 0) {
            conn_open(c);
            return;
        }
        c->state = C_IDLE;
        c->idle_at = t;
        c->next_idle = NULL;
        if (idle_tail)
            idle_tail->next_idle = c;
        else
            idle_head = c;
        idle_tail = c;
        return;
    case M_STREAM:
        if (started_streams >= total) {
            if (c->fd >= 0)
                conn_close(c);
            return;
        }
        if (c->fd < 0) {
            conn_open(c);
            return;
        }
        started_streams++;
        start_req(c, t);
        return;
    }
}

/* rate mode: the number of requests due before t_end, and handing due
 * requests to idle connections (those due before the end still go out after
 * it: a server that fell behind is charged for its backlog) */
static uint64_t rate_last(void)
{
    return (t_end - t0 + period_ns - 1) / period_ns;
}

static void dispatch_due(uint64_t t)
{
    uint64_t due = t < t0 ? 0 : (t - t0) / period_ns + 1;
    uint64_t last = rate_last();
    if (due > last)
        due = last;
    while (issued < due && idle_head != NULL) {
        struct conn *c = idle_head;
        idle_head = c->next_idle;
        if (idle_head == NULL)
            idle_tail = NULL;
        uint64_t due_at = t0 + issued * period_ns;
        bool free_at_due = c->idle_at <= due_at;
        start_req(c, due_at);
        /* a connection was free when the request was due: whatever made it
         * late was the client's own wake-up, not the server's queue */
        if (free_at_due)
            c->t_due = c->t_sent;
        c->t_sched = due_at;
        issued++;
    }
}

static bool all_done(void)
{
    for (int i = 0; i < nconns; i++)
        if (conns[i].state == C_BUSY || conns[i].state == C_CONNECTING)
            return false;
    return true;
}

static long read_pss(const char *pids)
{
    long sum = 0;
    char *dup = strdup(pids);
    for (char *s = strtok(dup, ","); s; s = strtok(NULL, ",")) {
        char fn[64];
        snprintf(fn, sizeof(fn), "/proc/%s/smaps_rollup", s);
        FILE *f = fopen(fn, "r");
        if (f == NULL)
            continue;
        char line[256];
        while (fgets(line, sizeof(line), f))
            if (strncmp(line, "Pss:", 4) == 0)
                sum += atol(line + 4);
        fclose(f);
    }
    free(dup);
    return sum;
}

static void on_io(struct conn *c, uint32_t ev)
{
    if (c->state == C_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err != 0) {
            conn_failed(c, strerror(err));
            return;
        }
        if (!(ev & (EPOLLOUT | EPOLLIN)))
            return;
        c->state = C_IDLE;
        set_out(c, false);
        next_work(c);
        return;
    }
    if ((ev & EPOLLOUT) && c->state == C_BUSY && c->wpos < req_len) {
        if (!send_req(c)) {
            conn_failed(c, "send failed");
            return;
        }
    }
    if (!(ev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        return;
    static char buf[RBUF];
    for (int rounds = 0; rounds < 4; rounds++) {
        ssize_t r = recv(c->fd, buf, sizeof(buf), 0);
        uint64_t t = now_ns();
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return;
            conn_failed(c, strerror(errno));
            return;
        }
        if (r == 0) {
            if (c->state == C_BUSY && c->bs == B_EOF) {
                c->bs = B_DONE;
                c->close_after = true;
                response_done(c, t);
                return;
            }
            if (c->state == C_BUSY) {
                conn_failed(c, "connection closed mid-response");
                return;
            }
            conn_close(c); /* an idle keep-alive connection closed by the server */
            reconnects++;
            next_work(c);
            return;
        }
        if (c->state != C_BUSY) {
            conn_failed(c, "bytes without a request");
            return;
        }
        size_t off = 0;
        while (off < (size_t)r) {
            ssize_t u = consume(c, buf + off, (size_t)r - off, t);
            if (u < 0) {
                conn_failed(c, "malformed response");
                return;
            }
            off += (size_t)u;
            if (c->bs == B_DONE) {
                if (off < (size_t)r) {
                    conn_failed(c, "bytes after the response");
                    return;
                }
                response_done(c, t);
                return;
            }
        }
        if ((size_t)r < sizeof(buf))
            return;
    }
}

static void usage(void)
{
    fputs("usage: loadgen closed|rate|stream --url http://127.0.0.1:PORT/path [options]; see the header of loadgen.c\n", stderr);
    exit(2);
}

static char *read_file(const char *fn, size_t *len)
{
    FILE *f = fopen(fn, "rb");
    if (f == NULL)
        die("%s: %s", fn, strerror(errno));
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (p == NULL || fread(p, 1, (size_t)n, f) != (size_t)n)
        die("%s: read failed", fn);
    fclose(f);
    p[n] = '\0';
    *len = (size_t)n;
    return p;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    if (strcmp(argv[1], "closed") == 0)
        mode = M_CLOSED;
    else if (strcmp(argv[1], "rate") == 0)
        mode = M_RATE;
    else if (strcmp(argv[1], "stream") == 0)
        mode = M_STREAM;
    else
        usage();
    const char *urls[MAX_URLS];
    int nurls = 0;
    char *body = NULL;
    size_t body_len = 0;
    char extra[8192] = "";
    size_t extra_len = 0;
    bool have_conns = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (!strcmp(a, "--url")) {
            if (nurls == MAX_URLS)
                die("at most %d --url", MAX_URLS);
            urls[nurls++] = v;
        } else if (!strcmp(a, "--header")) {
            int w = snprintf(extra + extra_len, sizeof(extra) - extra_len, "%s\r\n", v);
            if (w < 0 || (size_t)w >= sizeof(extra) - extra_len)
                die("headers too long");
            extra_len += (size_t)w;
        } else if (!strcmp(a, "--body")) {
            body = strdup(v);
            body_len = strlen(v);
        } else if (!strcmp(a, "--body-file"))
            body = read_file(v, &body_len);
        else if (!strcmp(a, "--conns"))
            nconns = atoi(v), have_conns = true;
        else if (!strcmp(a, "--duration"))
            duration = atof(v);
        else if (!strcmp(a, "--warmup"))
            warmup = atof(v);
        else if (!strcmp(a, "--rate"))
            rate = atof(v);
        else if (!strcmp(a, "--streams"))
            nstreams = atoi(v);
        else if (!strcmp(a, "--total"))
            total = atoi(v);
        else if (!strcmp(a, "--chunks"))
            expect_chunks = atoi(v);
        else if (!strcmp(a, "--timeout"))
            timeout_s = atof(v);
        else if (!strcmp(a, "--ramp-ms"))
            ramp_ms = atof(v);
        else if (!strcmp(a, "--pause-ms"))
            pause_ns = (uint64_t)(atof(v) * 1e6);
        else if (!strcmp(a, "--reconnect"))
            reconnect = atoi(v) != 0;
        else if (!strcmp(a, "--pss-pids"))
            pss_pids = strdup(v);
        else
            usage();
    }
    if (nurls == 0)
        usage();
    for (int u = 0; u < nurls; u++) {
        const char *url = urls[u];
        if (strncmp(url, "http://", 7) != 0)
            usage();
        const char *h = url + 7;
        const char *slash = strchr(h, '/');
        char uhost[128];
        size_t hl = slash ? (size_t)(slash - h) : strlen(h);
        if (hl >= sizeof(uhost))
            die("bad url");
        memcpy(uhost, h, hl);
        uhost[hl] = '\0';
        if (u == 0) {
            memcpy(host, uhost, hl + 1);
            snprintf(path, sizeof(path), "%s", slash ? slash : "/");
        } else if (strcmp(path, slash ? slash : "/") != 0)
            die("every --url must have the same path");
        char ip[64] = "127.0.0.1";
        int port = 80;
        char *colon = strrchr(uhost, ':');
        if (colon) {
            size_t il = (size_t)(colon - uhost);
            if (il >= sizeof(ip))
                die("bad url");
            memcpy(ip, uhost, il);
            ip[il] = '\0';
            port = atoi(colon + 1);
        }
        addrs[u].sin_family = AF_INET;
        addrs[u].sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, ip, &addrs[u].sin_addr) != 1)
            die("only IPv4 literal hosts: %s", ip);
    }
    naddrs = nurls;
    {
        size_t cap = 4096 + extra_len + body_len;
        req = malloc(cap);
        int w;
        if (body != NULL)
            w = snprintf(req, cap,
                         "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n", path,
                         host, body_len, extra);
        else
            w = snprintf(req, cap, "GET %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", path, host, extra);
        req_len = (size_t)w;
        if (body != NULL) {
            memcpy(req + req_len, body, body_len);
            req_len += body_len;
        }
    }
    if (mode == M_STREAM) {
        nconns = nstreams;
        if (total < nstreams)
            total = nstreams;
    } else if (mode == M_RATE && !have_conns)
        nconns = 64;
    if (nconns < 1)
        die("--conns must be at least 1");

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    /* wake up when asked, not up to 50 us later (the default timer slack) */
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    ep = epoll_create1(EPOLL_CLOEXEC);
    conns = calloc((size_t)nconns, sizeof(*conns));
    for (int i = 0; i < nconns; i++)
        conns[i].fd = -1;

    uint64_t start = now_ns();
    if (mode == M_RATE) {
        /* open every connection first, then start the clock */
        for (int i = 0; i < nconns; i++)
            conn_open(&conns[i]);
        uint64_t open_deadline = start + 5000000000ull;
        struct epoll_event evs[256];
        while (!all_done() && now_ns() < open_deadline) {
            int n = epoll_wait(ep, evs, 256, 10);
            for (int k = 0; k < n; k++)
                on_io(evs[k].data.ptr, evs[k].events);
        }
        period_ns = (uint64_t)(1e9 / rate);
        if (period_ns == 0)
            period_ns = 1;
        t0 = now_ns() + 1000000;
        t_measure = t0 + (uint64_t)(warmup * 1e9);
        t_end = t_measure + (uint64_t)(duration * 1e9);
    } else {
        t0 = start;
        t_measure = t0 + (uint64_t)(warmup * 1e9);
        t_end = t_measure + (uint64_t)(duration * 1e9);
        if (mode == M_STREAM)
            t_end = t0 + (uint64_t)(timeout_s * 1e9);
    }
    t_hard_end = t_end + (mode == M_STREAM ? 0 : 5000000000ull);

    int opened = 0;
    if (mode == M_CLOSED) {
        for (int i = 0; i < nconns; i++)
            conn_open(&conns[i]);
        opened = nconns;
    }
    struct epoll_event evs[512];
    for (;;) {
        uint64_t t = now_ns();
        if (mode == M_STREAM) {
            /* open the streams' connections evenly over the ramp */
            while (opened < nconns) {
                uint64_t at = t0 + (uint64_t)(ramp_ms * 1e6 * opened / nconns);
                if (at > t)
                    break;
                conn_open(&conns[opened++]);
            }
            if (pss_pids && !pss_final) {
                if (with_first >= nstreams && finished_streams == 0) {
                    /* every stream has its first chunk and none has ended */
                    pss_kb = read_pss(pss_pids);
                    pss_inflight = nstreams;
                    pss_final = true;
                } else if (t >= pss_next) {
                    /* meanwhile, every 100 ms: the moment with the most
                     * requests sent and not answered in full */
                    pss_next = t + 100000000ull;
                    int inflight = started_streams - finished_streams;
                    if (inflight > 0 && inflight >= pss_inflight) {
                        pss_kb = read_pss(pss_pids);
                        pss_inflight = inflight;
                    }
                }
            }
            if (finished_streams >= total)
                break;
            if (t >= t_end) {
                for (int i = 0; i < nconns; i++) {
                    struct conn *c = &conns[i];
                    if (c->state == C_BUSY) {
                        timeouts++;
                        finish_stream(c, false);
                    } else if (c->state == C_CONNECTING) {
                        timeouts++;
                        finished_streams++, streams_bad++, lost_chunks += (uint64_t)expect_chunks;
                    }
                    conn_close(c);
                }
                note_error("timeout after %.1f s", timeout_s);
                break;
            }
        } else if (mode == M_RATE) {
            dispatch_due(t);
            if (t >= t_end && issued >= rate_last())
                stop_sending = true;
        } else if (t >= t_end) {
            stop_sending = true;
        }
        if (mode == M_CLOSED && pause_ns) {
            for (int i = 0; i < nconns; i++)
                if (conns[i].wake_at && conns[i].wake_at <= t) {
                    conns[i].wake_at = 0;
                    next_work(&conns[i]);
                }
        }
        if (stop_sending && all_done())
            break;
        if (t >= t_hard_end) {
            for (int i = 0; i < nconns; i++)
                if (conns[i].state == C_BUSY || conns[i].state == C_CONNECTING) {
                    timeouts++;
                    conn_close(&conns[i]);
                }
            if (mode == M_RATE && issued < rate_last())
                timeouts += rate_last() - issued;
            note_error("requests still open 5 s after the end");
            break;
        }
        int n;
        if (mode == M_RATE && !stop_sending) {
            /* sleep until the next request is due (ns precision), or until
             * an answer frees a connection */
            uint64_t wait = 100000000;
            if (idle_head != NULL && issued < rate_last()) {
                uint64_t next = t0 + issued * period_ns;
                wait = next > t ? next - t : 0;
                if (wait > 100000000)
                    wait = 100000000;
            }
            struct timespec ts = {.tv_sec = (time_t)(wait / 1000000000ull), .tv_nsec = (long)(wait % 1000000000ull)};
            n = epoll_pwait2(ep, evs, 512, &ts, NULL);
        } else if ((mode == M_STREAM && opened < nconns) || (mode == M_CLOSED && pause_ns)) {
            n = epoll_wait(ep, evs, 512, 1);
        } else {
            n = epoll_wait(ep, evs, 512, 10);
        }
        for (int k = 0; k < n; k++)
            on_io(evs[k].data.ptr, evs[k].events);
    }
    uint64_t end = now_ns();
    for (int i = 0; i < nconns; i++)
        conn_close(&conns[i]);

    uint64_t errors = non2xx + sock_errors + timeouts;
    if (mode != M_STREAM && measured == 0)
        note_error("no request completed"), errors += errors == 0;
    qsort(lat.v, lat.n, sizeof(int64_t), cmp64);
    qsort(svc.v, svc.n, sizeof(int64_t), cmp64);
    qsort(late.v, late.n, sizeof(int64_t), cmp64);
    qsort(ttft.v, ttft.n, sizeof(int64_t), cmp64);
    qsort(delay.v, delay.n, sizeof(int64_t), cmp64);
    qsort(gap.v, gap.n, sizeof(int64_t), cmp64);
    printf("{\"mode\":\"%s\",\"errors\":%llu,\"non2xx\":%llu,\"sock_errors\":%llu,\"timeouts\":%llu,\"reconnects\":%llu,"
           "\"elapsed_s\":%.3f",
           argv[1], (unsigned long long)errors, (unsigned long long)non2xx, (unsigned long long)sock_errors,
           (unsigned long long)timeouts, (unsigned long long)reconnects, (double)(end - start) / 1e9);
    if (mode != M_STREAM) {
        printf(",\"requests\":%llu,\"measured\":%llu,\"rps\":%.1f,\"mean_us\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,"
               "\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f",
               (unsigned long long)completed, (unsigned long long)measured, (double)measured / duration, mean_us(&lat),
               pct(&lat, .5), pct(&lat, .9), pct(&lat, .99), pct(&lat, .999), pct(&lat, 1));
        if (mode == M_RATE)
            printf(",\"offered_rps\":%.1f,\"conns\":%d,\"sent_p50_us\":%.1f,\"sent_p99_us\":%.1f,"
                   "\"late_p50_us\":%.1f,\"late_p99_us\":%.1f",
                   rate, nconns, pct(&svc, .5), pct(&svc, .99), pct(&late, .5), pct(&late, .99));
    } else {
        printf(",\"streams\":%d,\"concurrency\":%d,\"streams_ok\":%llu,\"streams_bad\":%llu,\"chunks_expected\":%d,"
               "\"content_events\":%llu,\"lost_chunks\":%llu,\"merged_events\":%llu,\"missing_done\":%llu,"
               "\"ttft_p50_us\":%.1f,\"ttft_p99_us\":%.1f,\"ttft_max_us\":%.1f,"
               "\"delay_p50_us\":%.1f,\"delay_p99_us\":%.1f,\"delay_p999_us\":%.1f,\"delay_max_us\":%.1f,"
               "\"gap_p50_us\":%.1f,\"gap_p99_us\":%.1f,\"gap_max_us\":%.1f,\"pss_kb\":%ld,\"pss_inflight\":%d",
               total, nstreams, (unsigned long long)streams_ok, (unsigned long long)streams_bad, expect_chunks,
               (unsigned long long)content_events, (unsigned long long)lost_chunks, (unsigned long long)merged,
               (unsigned long long)missing_done, pct(&ttft, .5), pct(&ttft, .99), pct(&ttft, 1), pct(&delay, .5), pct(&delay, .99),
               pct(&delay, .999), pct(&delay, 1), pct(&gap, .5), pct(&gap, .99), pct(&gap, 1), pss_kb, pss_inflight);
        errors += streams_bad;
    }
    printf(",\"first_error\":\"");
    for (const char *p = first_error; *p; p++)
        putchar(*p == '"' || *p == '\\' ? '\'' : *p);
    printf("\"}\n");
    return errors > 0 ? 1 : 0;
}
