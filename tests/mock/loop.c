/*
 * tests/mock/loop.c: the event loop of llmgate-mock. One epoll set with
 * level-triggered, non-blocking sockets; a binary min-heap of per-connection
 * deadlines (each connection has at most one: a pause in its response or the
 * end of a slow_read stall); keep-alive and pipelining (requests are answered
 * in order, one paced response at a time). A response is a script that
 * dispatch.c hands out step by step (mock_next): bytes, pauses, an end, a
 * reset, a hang. Body events are framed as HTTP chunks and, with split=1,
 * written in pieces at odd offsets with a pause between them. The peer going
 * away is seen at once (EPOLLRDHUP is always watched) and recorded.
 */
#include "mock.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define WBUF_HIGH   (256 * 1024) /* stop generating while this much is unsent */
#define RBUF_BUSY   (4 << 20)    /* stop reading a busy connection past this */
#define FILLER_SIZE (64 * 1024)

static int epfd = -1;
static int lfd = -1;
static volatile int stopping;
static struct mock_conn **heap;
static size_t heap_len, heap_cap;
static struct mock_conn *free_conns, *closed_conns;
/* every connection allocated: a live one is otherwise known only to epoll, and
 * LeakSanitizer would report it at exit */
static struct mock_conn *all_conns;
static char filler[FILLER_SIZE];
static char listener_tag;

uint64_t mock_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

double mock_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

void mock_loop_stop(void)
{
    stopping = 1;
}

/* ---- timers ---- */

static void heap_swap(size_t a, size_t b)
{
    struct mock_conn *t = heap[a];
    heap[a] = heap[b];
    heap[b] = t;
    heap[a]->heap_idx = (int)a;
    heap[b]->heap_idx = (int)b;
}

static void heap_up(size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (heap[p]->timer_at <= heap[i]->timer_at)
            break;
        heap_swap(i, p);
        i = p;
    }
}

static void heap_down(size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < heap_len && heap[l]->timer_at < heap[m]->timer_at)
            m = l;
        if (r < heap_len && heap[r]->timer_at < heap[m]->timer_at)
            m = r;
        if (m == i)
            break;
        heap_swap(i, m);
        i = m;
    }
}

static void timer_cancel(struct mock_conn *c)
{
    if (c->heap_idx < 0)
        return;
    size_t i = (size_t)c->heap_idx;
    c->heap_idx = -1;
    heap_len--;
    if (i == heap_len)
        return;
    heap[i] = heap[heap_len];
    heap[i]->heap_idx = (int)i;
    heap_up(i);
    heap_down((size_t)heap[i]->heap_idx);
}

static void timer_set_at(struct mock_conn *c, uint64_t at)
{
    timer_cancel(c);
    if (heap_len == heap_cap) {
        heap_cap = heap_cap ? heap_cap * 2 : 1024;
        heap = realloc(heap, heap_cap * sizeof(*heap));
        if (heap == NULL)
            abort();
    }
    c->timer_at = at;
    c->heap_idx = (int)heap_len;
    heap[heap_len++] = c;
    heap_up((size_t)c->heap_idx);
}

static void timer_set(struct mock_conn *c, uint32_t ms)
{
    timer_set_at(c, mock_now_ns() + (uint64_t)ms * 1000000ULL);
}

/* ---- connections ---- */

static void set_events(struct mock_conn *c, uint32_t ev)
{
    if (c->dead || c->events == ev)
        return;
    struct epoll_event e = {.events = ev, .data.ptr = c};
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &e);
    c->events = ev;
}

static void conn_free_fd(struct mock_conn *c, bool reset)
{
    timer_cancel(c);
    if (reset) {
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    } else {
        shutdown(c->fd, SHUT_WR);
    }
    close(c->fd);
    c->fd = -1;
    c->dead = true;
    c->next = closed_conns;
    closed_conns = c;
}

/* the peer went away (EOF, reset, write error) */
static void conn_gone(struct mock_conn *c)
{
    if (c->dead)
        return;
    c->peer_gone = true;
    if (c->rec_open) {
        mock_record_event(c, "client_closed");
        c->rec_open = false;
    } else if (c->head_done && mock_record_on) {
        /* a request whose head arrived but not all of its body */
        mock_record_partial(c);
    }
    conn_free_fd(c, false);
}

static size_t pending(const struct mock_conn *c)
{
    return c->wbuf.len - c->wpos + (size_t)c->filler;
}

/* writes what it can; returns false when the connection ended */
static bool conn_flush(struct mock_conn *c)
{
    while (c->wpos < c->wbuf.len || c->filler > 0) {
        struct iovec iov[2];
        int n = 0;
        if (c->wpos < c->wbuf.len) {
            iov[n].iov_base = c->wbuf.p + c->wpos;
            iov[n++].iov_len = c->wbuf.len - c->wpos;
        }
        if (c->filler > 0) {
            iov[n].iov_base = filler;
            iov[n++].iov_len = c->filler < FILLER_SIZE ? (size_t)c->filler : FILLER_SIZE;
        }
        ssize_t w = writev(c->fd, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                set_events(c, c->events | EPOLLOUT);
                return true;
            }
            conn_gone(c);
            return false;
        }
        size_t left = (size_t)w;
        size_t inbuf = c->wbuf.len - c->wpos;
        if (w > 0)
            c->st.writes++;
        if (left >= inbuf) {
            c->wpos = c->wbuf.len;
            c->filler -= left - inbuf;
        } else {
            c->wpos += left;
        }
    }
    c->wbuf.len = c->wpos = 0;
    set_events(c, c->events & ~(uint32_t)EPOLLOUT);
    if (c->state == MOCK_C_DRAIN) {
        conn_free_fd(c, c->after_drain == MOCK_ACT_RESET);
        return false;
    }
    return true;
}

static void frame(struct mock_conn *c, const char *p, size_t n)
{
    if (n == 0)
        return;
    if (c->st.chunked_body) {
        char hex[20];
        int hl = snprintf(hex, sizeof(hex), "%zx\r\n", n);
        mbuf_reserve(&c->wbuf, (size_t)hl + n + 2);
        mbuf_add(&c->wbuf, hex, (size_t)hl);
        mbuf_add(&c->wbuf, p, n);
        mbuf_add(&c->wbuf, "\r\n", 2);
    } else {
        mbuf_add(&c->wbuf, p, n);
    }
}

/* the next split point of an event of len bytes after off */
static size_t next_cut(size_t len, size_t off)
{
    size_t cuts[3] = {1, (len / 2) | 1, len - 1};
    for (int i = 0; i < 3; i++)
        if (cuts[i] > off && cuts[i] < len)
            return cuts[i];
    return len;
}

static void response_done(struct mock_conn *c)
{
    if (c->rec_open) {
        mock_record_event(c, "done");
        c->rec_open = false;
    }
    c->st.chunked_body = false;
}

static void run_script(struct mock_conn *c)
{
    while (c->state == MOCK_C_RESP && !c->dead) {
        if (c->heap_idx >= 0)
            return;
        if (c->splitting) {
            size_t cut = next_cut(c->ebuf.len, c->split_off);
            frame(c, c->ebuf.p + c->split_off, cut - c->split_off);
            c->split_off = cut;
            if (cut == c->ebuf.len) {
                c->splitting = false;
                continue;
            }
            if (!conn_flush(c))
                return;
            if (c->sc.split_ms > 0)
                timer_set(c, c->sc.split_ms);
            continue;
        }
        if (pending(c) > WBUF_HIGH) {
            /* write what the socket takes now: when it takes it all, go on
             * generating (an armed EPOLLOUT would be disarmed by that flush,
             * and nothing would run the script again: the stream stalled at
             * 256 KiB); else EPOLLOUT is armed and conn_event() goes on */
            if (!conn_flush(c) || pending(c) > 0)
                return;
            continue;
        }
        c->ebuf.len = 0;
        uint64_t at = 0;
        enum mock_act act = mock_next(c, &c->ebuf, &at);
        switch (act) {
        case MOCK_ACT_HEAD:
            mbuf_add(&c->wbuf, c->ebuf.p, c->ebuf.len);
            break;
        case MOCK_ACT_EVENT:
            if (c->sc.split && c->ebuf.len > 1) {
                c->splitting = true;
                c->split_off = 0;
            } else {
                frame(c, c->ebuf.p, c->ebuf.len);
            }
            break;
        case MOCK_ACT_WAIT:
            if (!conn_flush(c))
                return;
            if (at > mock_now_ns())
                timer_set_at(c, at);
            break;
        case MOCK_ACT_END:
            if (c->st.chunked_body)
                mbuf_add(&c->wbuf, "0\r\n\r\n", 5);
            response_done(c);
            if (c->close_after) {
                c->state = MOCK_C_DRAIN;
                c->after_drain = MOCK_ACT_CLOSE;
            } else {
                c->state = MOCK_C_READ;
            }
            return;
        case MOCK_ACT_RESET:
        case MOCK_ACT_CLOSE:
            response_done(c);
            c->state = MOCK_C_DRAIN;
            c->after_drain = act;
            conn_flush(c);
            return;
        case MOCK_ACT_HANG:
            c->state = MOCK_C_HANG;
            conn_flush(c);
            return;
        }
    }
}

static void simple_error(struct mock_conn *c, int status)
{
    char body[96];
    int bl = snprintf(body, sizeof(body),
                      "{\"error\":{\"message\":\"mock: malformed request (%d)\",\"type\":\"invalid_request_error\"}}", status);
    mbuf_addf(&c->wbuf, "HTTP/1.1 %d %s\r\n%sContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
              status, mock_http_reason(status), mock_http_date(), bl, body);
    c->state = MOCK_C_DRAIN;
    c->after_drain = MOCK_ACT_CLOSE;
}

static void process_input(struct mock_conn *c)
{
    if (c->state == MOCK_C_READ && !(c->events & EPOLLIN))
        set_events(c, c->events | EPOLLIN | EPOLLRDHUP); /* reading was stopped while busy */
    while (c->state == MOCK_C_READ && !c->dead && c->filler == 0 && pending(c) < WBUF_HIGH) {
        char *base = c->rbuf.p + c->rpos;
        size_t avail = c->rbuf.len - c->rpos;
        if (avail == 0)
            break;
        if (!c->head_done) {
            int rc = mock_http_parse_head(&c->req, base, avail);
            if (rc == 0)
                break;
            if (rc < 0) {
                simple_error(c, -rc);
                break;
            }
            c->head_done = true;
            c->continue_sent = false;
            mock_on_head(c);
            if (c->sc.fault == MOCK_FAULT_SLOW_READ && c->sc.error[0] == '\0' && c->sc.pause_ms > 0) {
                c->state = MOCK_C_PAUSED;
                set_events(c, EPOLLRDHUP);
                timer_set(c, c->sc.pause_ms);
                break;
            }
        }
        int rc = mock_http_body(&c->req, base, avail);
        if (rc == 0) {
            if (c->req.expect_continue && !c->continue_sent) {
                mbuf_adds(&c->wbuf, "HTTP/1.1 100 Continue\r\n\r\n");
                c->continue_sent = true;
            }
            break;
        }
        if (rc < 0) {
            simple_error(c, -rc);
            break;
        }
        c->close_after = !c->req.keep_alive;
        c->state = MOCK_C_RESP;
        mock_dispatch(c);
        c->rpos += c->req.raw_len;
        c->head_done = false;
        run_script(c);
    }
    if (c->dead)
        return;
    if (c->rpos == c->rbuf.len) {
        c->rpos = c->rbuf.len = 0;
    } else if (c->rpos > 0 && (c->rpos > 65536 || c->rpos * 2 > c->rbuf.len)) {
        memmove(c->rbuf.p, c->rbuf.p + c->rpos, c->rbuf.len - c->rpos);
        c->rbuf.len -= c->rpos;
        c->rpos = 0;
    }
    conn_flush(c);
}

static void conn_read(struct mock_conn *c)
{
    for (;;) {
        /* 4 KB to start with (thousands of idle streams), doubling when full */
        mbuf_reserve(&c->rbuf, c->rbuf.cap - c->rbuf.len < 1024 ? (c->rbuf.cap < 4096 ? 4096 : c->rbuf.cap) : 0);
        size_t room = c->rbuf.cap - c->rbuf.len;
        ssize_t n = read(c->fd, c->rbuf.p + c->rbuf.len, room);
        if (n > 0) {
            c->rbuf.len += (size_t)n;
            if ((size_t)n < room)
                break;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        conn_gone(c);
        return;
    }
    if (c->state == MOCK_C_READ) {
        process_input(c);
    } else if (c->rbuf.len - c->rpos > RBUF_BUSY) {
        set_events(c, (c->events & ~(uint32_t)EPOLLIN) | EPOLLRDHUP);
    }
}

static void conn_event(struct mock_conn *c, uint32_t ev)
{
    if (c->dead)
        return;
    if (c->state == MOCK_C_PAUSED) {
        /* not reading: only the peer's end matters */
        if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            conn_gone(c);
        return;
    }
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        conn_read(c);
        if (c->dead)
            return;
        if ((ev & (EPOLLHUP | EPOLLERR)) || ((ev & EPOLLRDHUP) && !(c->events & EPOLLIN))) {
            conn_gone(c);
            return;
        }
    }
    if (ev & EPOLLOUT) {
        if (!conn_flush(c))
            return;
        if (pending(c) == 0) {
            if (c->state == MOCK_C_RESP) {
                run_script(c);
                if (!c->dead)
                    conn_flush(c);
            }
            if (!c->dead && c->state == MOCK_C_READ)
                process_input(c);
        }
    }
}

static void conn_timer(struct mock_conn *c)
{
    if (c->state == MOCK_C_PAUSED) {
        c->state = MOCK_C_READ;
        c->sc.fault = MOCK_FAULT_NONE;
        set_events(c, EPOLLIN | EPOLLRDHUP);
        process_input(c);
        return;
    }
    if (c->state == MOCK_C_RESP) {
        run_script(c);
        if (!c->dead)
            conn_flush(c);
        if (!c->dead && c->state == MOCK_C_READ)
            process_input(c);
    }
}

static void accept_all(void)
{
    for (int i = 0; i < 256; i++) {
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE)
                fprintf(stderr, "llmgate-mock: accept: %s\n", strerror(errno));
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct mock_conn *c = free_conns;
        if (c != NULL) {
            free_conns = c->next;
        } else {
            c = calloc(1, sizeof(*c));
            if (c == NULL)
                abort();
            c->all_next = all_conns;
            all_conns = c;
        }
        c->fd = fd;
        c->events = EPOLLIN | EPOLLRDHUP;
        c->state = MOCK_C_READ;
        c->rbuf.len = c->wbuf.len = c->ebuf.len = 0;
        c->rpos = c->wpos = 0;
        c->filler = 0;
        c->head_done = c->continue_sent = c->peer_gone = c->dead = false;
        c->splitting = c->close_after = c->rec_open = false;
        c->heap_idx = -1;
        c->st.chunked_body = false;
        c->next = NULL;
        struct epoll_event e = {.events = c->events, .data.ptr = c};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e) < 0) {
            close(fd);
            c->next = free_conns;
            free_conns = c;
        }
    }
}

static void reap_closed(void)
{
    while (closed_conns != NULL) {
        struct mock_conn *c = closed_conns;
        closed_conns = c->next;
        c->rbuf.len = c->wbuf.len = c->ebuf.len = c->rec.len = 0;
        mbuf_trim(&c->rbuf, 65536);
        mbuf_trim(&c->wbuf, 65536);
        mbuf_trim(&c->ebuf, 65536);
        mbuf_trim(&c->rec, 65536);
        c->st.text.len = c->st.full.len = 0;
        mbuf_trim(&c->st.text, 65536);
        mbuf_trim(&c->st.full, 65536);
        c->st.echo.len = 0;
        mbuf_trim(&c->st.echo, 65536);
        c->next = free_conns;
        free_conns = c;
    }
}

int mock_loop_run(int listen_fd)
{
    memset(filler, 'x', sizeof(filler));
    lfd = listen_fd;
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0) {
        perror("epoll_create1");
        return 1;
    }
    struct epoll_event le = {.events = EPOLLIN, .data.ptr = &listener_tag};
    if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &le) < 0) {
        perror("epoll_ctl");
        return 1;
    }
    static struct epoll_event evs[512];
    bool have_pwait2 = true;
    while (!stopping) {
        int n;
        if (heap_len == 0) {
            n = epoll_wait(epfd, evs, 512, -1);
        } else {
            uint64_t now = mock_now_ns();
            uint64_t at = heap[0]->timer_at;
            uint64_t d = at > now ? at - now : 0;
            if (have_pwait2) {
                struct timespec ts = {.tv_sec = (time_t)(d / 1000000000ULL), .tv_nsec = (long)(d % 1000000000ULL)};
                n = epoll_pwait2(epfd, evs, 512, &ts, NULL);
                if (n < 0 && errno == ENOSYS) {
                    have_pwait2 = false;
                    continue;
                }
            } else {
                n = epoll_wait(epfd, evs, 512, (int)((d + 999999) / 1000000));
            }
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &listener_tag)
                accept_all();
            else
                conn_event(evs[i].data.ptr, evs[i].events);
        }
        if (heap_len > 0) {
            uint64_t now = mock_now_ns();
            while (heap_len > 0 && heap[0]->timer_at <= now) {
                struct mock_conn *c = heap[0];
                timer_cancel(c);
                conn_timer(c);
            }
        }
        reap_closed();
    }
    return 0;
}
