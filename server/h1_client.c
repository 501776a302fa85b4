/*
 * server/h1_client.c: the HTTP/1.1 client for http:// and https:// upstreams
 * (see h1_client.h; the TLS contexts and handshake are server/h1_tls.c).
 *
 * A target is one scheme, host:port and TLS context (a provider's settings)
 * with its resolved addresses (kept 60 s, as libcurl's DNS cache) and its
 * idle keep-alive connections (most recently used first), so cleartext and
 * TLS connections, or two providers' TLS settings, never mix. A transfer
 * owns one connection while it runs. Body bytes are decoded in place at the
 * front of the socket's input buffer and handed to on_data in one delivery
 * per read, so the events of one upstream read leave in one client write.
 *
 * A provider with max_connections has targets of its own, whose connections
 * (busy, connecting or idle) each hold a slot of its cap (upstream_cap.h); a
 * transfer holds the slot itself while it has no connection (resolving, or
 * between two addresses or two tries). A transfer that finds no idle
 * connection and no free slot waits, and takes the next connection to come
 * back to the pool, or the slot of the next one to close.
 */
#include "server/h1_client.h"

#include "server/h1_tls.h"
#include "server/h1_url.h"
#include "server/upstream_cap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <uv.h>

#define DNS_TTL_MS 60000
#define IDLE_MS    30000 /* an idle connection is closed after this */
#define IDLE_MAX   1024  /* idle connections kept per target */
#define MAX_ADDRS  4
#define HOST_MAX   LLG_H1_HOST_MAX

typedef struct target {
    char host[HOST_MAX + 1]; /* without IPv6 brackets */
    char authority[HOST_MAX + 9];
    uint16_t port;
    llg_h1_tls_t *tls; /* https://: its context; NULL: cleartext */
    bool literal;      /* an IP address: never resolved */
    struct sockaddr_storage addrs[MAX_ADDRS];
    socklen_t addrlens[MAX_ADDRS];
    size_t naddrs;
    uint64_t resolved_at;
    h2o_linklist_t idle; /* conn_t.link, most recent first */
    size_t nidle;
    llg_cap_t *cap; /* its provider's, or NULL: no cap */
    struct target *next;
} target_t;

typedef struct conn {
    h2o_socket_t *sock;
    target_t *target;
    llg_h1_transfer_t *t; /* the transfer using it; NULL when idle */
    h2o_linklist_t link;
    h2o_timeout_entry_t idle_entry;
    bool writing; /* a write callback is still due */
} conn_t;

struct llg_h1_client {
    h2o_loop_t *loop;
    bool off; /* a proxy is configured in the environment: libcurl serves all */
    uint64_t connect_ms;
    h2o_timeout_t connect_timeout, idle_timeout, zero_timeout;
    target_t *targets;
    llg_h1_tls_t **tls; /* the contexts made by llg_h1_add_tls() */
    size_t ntls;
};

struct llg_h1_transfer {
    llg_h1_client_t *c;
    target_t *target;
    conn_t *conn;
    llg_h1_callbacks_t cb;
    void *ud;
    char *req; /* request line and head; wiped when freed */
    size_t req_len;
    h2o_iovec_t body;
    uv_getaddrinfo_t *gai;     /* a lookup in flight; its data is NULLed when we stop waiting */
    h2o_timeout_entry_t timer; /* connect timeout, or a failure reported on the next turn */
    CURLcode late_result;      /* for the latter */
    size_t addr_idx;
    llg_h1_head_t head;
    bool head_done, status_sent, body_done;
    size_t scanned; /* input bytes known not to end the head (after an incomplete parse) */
    llg_h1_chunked_t chunked;
    uint64_t left;  /* LLG_H1_BODY_LENGTH: bytes still to come */
    size_t pending; /* decoded body bytes at the front of the input not yet taken */
    bool eof;
    bool in_cb, cancelled, paused;
    bool reused, retried, got_bytes;
    bool has_slot;         /* holds a slot of the cap while it has no connection (resolving, between addresses) */
    llg_cap_waiter_t wait; /* in the cap's queue while it waits for a connection */
};

static void start_connect(llg_h1_transfer_t *t);
static void send_request(llg_h1_transfer_t *t, conn_t *conn);
static void process(llg_h1_transfer_t *t);

/* ---- the cap ----------------------------------------------------------- */

/* A slot of the target's cap came free: the first waiter takes it and
 * connects (no callback runs here). */
static void slot_free(target_t *tg)
{
    if (tg->cap == NULL)
        return;
    llg_cap_waiter_t *w = llg_cap_release(tg->cap);
    if (w != NULL) {
        llg_h1_transfer_t *t = H2O_STRUCT_FROM_MEMBER(llg_h1_transfer_t, wait, w);
        t->has_slot = true;
        start_connect(t);
    }
}

/* ---- connections ------------------------------------------------------- */

/* Closes a connection whose slot its transfer keeps (to connect again). */
static void conn_drop(conn_t *conn)
{
    if (h2o_linklist_is_linked(&conn->link)) {
        h2o_linklist_unlink(&conn->link);
        conn->target->nidle--;
    }
    h2o_timeout_unlink(&conn->idle_entry);
    h2o_socket_close(conn->sock);
    free(conn);
}

static void conn_close(conn_t *conn)
{
    target_t *tg = conn->target;
    conn_drop(conn);
    slot_free(tg);
}

static void on_idle_event(h2o_socket_t *sock, const char *err)
{
    conn_t *conn = sock->data;
    if (err == NULL && sock->bytes_read == 0)
        return;
    /* a close, or bytes no request asked for: either way it is done */
    conn_close(conn);
}

static void on_idle_timeout(h2o_timeout_entry_t *entry)
{
    conn_close(H2O_STRUCT_FROM_MEMBER(conn_t, idle_entry, entry));
}

static void conn_pool(llg_h1_client_t *c, conn_t *conn)
{
    target_t *tg = conn->target;
    conn->t = NULL;
    llg_cap_waiter_t *w = tg->cap != NULL ? llg_cap_pop(tg->cap) : NULL;
    if (w != NULL) {
        /* a transfer waits for a connection: it takes this one at once */
        llg_h1_transfer_t *t = H2O_STRUCT_FROM_MEMBER(llg_h1_transfer_t, wait, w);
        t->reused = true;
        send_request(t, conn);
        return;
    }
    /* an idle connection holds no buffer until something arrives */
    h2o_buffer_dispose(&conn->sock->input);
    h2o_buffer_init(&conn->sock->input, &h2o_socket_buffer_prototype);
    h2o_socket_read_start(conn->sock, on_idle_event);
    h2o_linklist_insert(tg->idle.next, &conn->link);
    tg->nidle++;
    h2o_timeout_link(c->loop, &c->idle_timeout, &conn->idle_entry);
    if (tg->nidle > IDLE_MAX)
        conn_close(H2O_STRUCT_FROM_MEMBER(conn_t, link, tg->idle.prev));
}

/* ---- transfer end ------------------------------------------------------ */

static void transfer_free(llg_h1_transfer_t *t)
{
    if (t->gai != NULL)
        t->gai->data = NULL; /* on_resolved frees it */
    h2o_timeout_unlink(&t->timer);
    if (t->target->cap != NULL)
        llg_cap_leave(t->target->cap, &t->wait);
    if (t->conn != NULL)
        conn_close(t->conn);
    if (t->has_slot) {
        t->has_slot = false;
        slot_free(t->target);
    }
    if (t->req != NULL) {
        memset(t->req, 0, t->req_len);
        free(t->req);
    }
    free(t);
}

/* Ends the transfer: its connection goes back to the pool when the response
 * was whole and the connection may carry another; then on_done. */
static void finish(llg_h1_transfer_t *t, CURLcode result)
{
    conn_t *conn = t->conn;
    if (result == CURLE_OK && conn != NULL && t->head.keep_alive && !conn->writing && conn->sock->input->size == 0) {
        t->conn = NULL;
        conn_pool(t->c, conn);
    }
    void (*done)(void *, CURLcode) = t->cb.on_done;
    void *ud = t->ud;
    transfer_free(t);
    done(ud, result);
}

static void on_late_failure(h2o_timeout_entry_t *entry)
{
    llg_h1_transfer_t *t = H2O_STRUCT_FROM_MEMBER(llg_h1_transfer_t, timer, entry);
    finish(t, t->late_result);
}

/* Reports a failure on the next loop turn (never inside llg_h1_post). */
static void fail_later(llg_h1_transfer_t *t, CURLcode result)
{
    h2o_timeout_unlink(&t->timer);
    t->late_result = result;
    t->timer.cb = on_late_failure;
    h2o_timeout_link(t->c->loop, &t->c->zero_timeout, &t->timer);
}

/* ---- request ----------------------------------------------------------- */

static void on_read(h2o_socket_t *sock, const char *err);

/* A reused connection the upstream closed before answering: once more on a
 * new connection. */
static bool retry_fresh(llg_h1_transfer_t *t)
{
    if (!t->reused || t->retried || t->got_bytes)
        return false;
    conn_drop(t->conn); /* its slot goes to the new connection */
    t->conn = NULL;
    t->has_slot = t->target->cap != NULL;
    t->retried = true;
    t->reused = false;
    memset(&t->head, 0, sizeof(t->head));
    t->head_done = t->status_sent = t->body_done = t->eof = false;
    t->pending = t->scanned = 0;
    start_connect(t);
    return true;
}

static void on_written(h2o_socket_t *sock, const char *err)
{
    conn_t *conn = sock->data;
    llg_h1_transfer_t *t = conn->t;
    conn->writing = false;
    if (err == NULL || t == NULL)
        return;
    if (!retry_fresh(t))
        finish(t, CURLE_SEND_ERROR);
}

static void send_request(llg_h1_transfer_t *t, conn_t *conn)
{
    t->conn = conn;
    conn->t = t;
    h2o_iovec_t bufs[2] = {h2o_iovec_init(t->req, t->req_len), t->body};
    size_t nbufs = t->body.len > 0 ? 2 : 1;
    /* A request nearly always fits the socket buffer: it is written here, and
     * libuv's write request is only for what is left. libuv ends every write
     * request on a later turn with an epoll_ctl (uv__drain), one per request
     * on a keep-alive connection. On any failure libuv writes it all again
     * and reports the error through on_written. */
    struct iovec iov[2] = {{bufs[0].base, bufs[0].len}, {bufs[1].base, bufs[1].len}};
    int fd = conn->target->tls == NULL ? h2o_socket_get_fd(conn->sock) : -1; /* TLS: h2o encrypts */
    ssize_t n = fd >= 0 ? writev(fd, iov, (int)nbufs) : -1;
    size_t done = n > 0 ? (size_t)n : 0;
    h2o_iovec_t *rest = bufs;
    while (nbufs > 0 && done >= rest->len) {
        done -= rest->len;
        rest++;
        nbufs--;
    }
    if (nbufs > 0) {
        rest->base += done;
        rest->len -= done;
        conn->writing = true;
        h2o_socket_write(conn->sock, rest, nbufs, on_written);
    }
    /* an upstream may answer before it read the whole body */
    h2o_socket_read_start(conn->sock, on_read);
}

static void on_connect_timeout(h2o_timeout_entry_t *entry)
{
    llg_h1_transfer_t *t = H2O_STRUCT_FROM_MEMBER(llg_h1_transfer_t, timer, entry);
    finish(t, CURLE_OPERATION_TIMEDOUT);
}

static void on_handshake(h2o_socket_t *sock, const char *err)
{
    conn_t *conn = sock->data;
    llg_h1_transfer_t *t = conn->t;
    CURLcode result = llg_h1_tls_result(t->target->tls, err);
    if (result != CURLE_OK) {
        finish(t, result); /* closes the connection */
        return;
    }
    if (t->timer.cb == on_connect_timeout)
        h2o_timeout_unlink(&t->timer);
    send_request(t, conn);
}

static void on_connect(h2o_socket_t *sock, const char *err)
{
    conn_t *conn = sock->data;
    llg_h1_transfer_t *t = conn->t;
    if (err != NULL) {
        conn_drop(conn); /* the slot stays with the transfer */
        t->conn = NULL;
        t->has_slot = t->target->cap != NULL;
        t->addr_idx++;
        if (t->addr_idx < t->target->naddrs) {
            start_connect(t);
            return;
        }
        t->target->resolved_at = 0; /* look the name up again next time */
        finish(t, CURLE_COULDNT_CONNECT);
        return;
    }
    int fd = h2o_socket_get_fd(sock), one = 1;
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (t->target->tls != NULL) {
        /* timeouts.connect bounds the handshake too, as libcurl's */
        llg_h1_tls_handshake(t->target->tls, sock, on_handshake);
        return;
    }
    if (t->timer.cb == on_connect_timeout)
        h2o_timeout_unlink(&t->timer);
    send_request(t, conn);
}

static void connect_addr(llg_h1_transfer_t *t)
{
    target_t *tg = t->target;
    for (; t->addr_idx < tg->naddrs; t->addr_idx++) {
        h2o_socket_t *sock =
            h2o_socket_connect(t->c->loop, (struct sockaddr *)&tg->addrs[t->addr_idx], tg->addrlens[t->addr_idx], on_connect);
        if (sock == NULL)
            continue;
        conn_t *conn = calloc(1, sizeof(*conn));
        if (conn == NULL) {
            h2o_socket_close(sock);
            fail_later(t, CURLE_OUT_OF_MEMORY);
            return;
        }
        conn->sock = sock;
        conn->target = tg;
        conn->t = t;
        conn->idle_entry.cb = on_idle_timeout;
        sock->data = conn;
        t->conn = conn;
        t->has_slot = false; /* the connection has it now */
        return;
    }
    fail_later(t, CURLE_COULDNT_CONNECT);
}

static void on_resolved(uv_getaddrinfo_t *gai, int status, struct addrinfo *res)
{
    llg_h1_transfer_t *t = gai->data;
    if (t == NULL) {
        /* the transfer was cancelled meanwhile */
        uv_freeaddrinfo(res);
        free(gai);
        return;
    }
    t->gai = NULL;
    free(gai);
    target_t *tg = t->target;
    size_t n = 0;
    for (struct addrinfo *ai = status == 0 ? res : NULL; ai != NULL && n < MAX_ADDRS; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(tg->addrs[0]) || (ai->ai_family != AF_INET && ai->ai_family != AF_INET6))
            continue;
        memcpy(&tg->addrs[n], ai->ai_addr, ai->ai_addrlen);
        tg->addrlens[n++] = (socklen_t)ai->ai_addrlen;
    }
    uv_freeaddrinfo(res);
    tg->naddrs = n;
    if (n == 0) {
        finish(t, CURLE_COULDNT_RESOLVE_HOST);
        return;
    }
    tg->resolved_at = h2o_now(t->c->loop);
    t->addr_idx = 0;
    connect_addr(t);
}

/* A new connection: the addresses are resolved first unless known. */
static void start_connect(llg_h1_transfer_t *t)
{
    target_t *tg = t->target;
    if (t->c->connect_ms > 0 && !h2o_timeout_is_linked(&t->timer)) {
        t->timer.cb = on_connect_timeout;
        h2o_timeout_link(t->c->loop, &t->c->connect_timeout, &t->timer);
    }
    t->addr_idx = 0;
    if (tg->literal || (tg->naddrs > 0 && h2o_now(t->c->loop) - tg->resolved_at < DNS_TTL_MS)) {
        connect_addr(t);
        return;
    }
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)tg->port);
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_NUMERICSERV; /* no AI_ADDRCONFIG: glibc ignores loopback addresses for it, so with loopback only even
                                        localhost may not resolve */
    uv_getaddrinfo_t *gai = malloc(sizeof(*gai));
    if (gai == NULL) {
        fail_later(t, CURLE_OUT_OF_MEMORY);
        return;
    }
    gai->data = t;
    if (uv_getaddrinfo(t->c->loop, gai, on_resolved, tg->host, port, &hints) != 0) {
        free(gai);
        fail_later(t, CURLE_COULDNT_RESOLVE_HOST);
        return;
    }
    t->gai = gai;
}

/* ---- response ---------------------------------------------------------- */

static void report_status(llg_h1_transfer_t *t)
{
    if (!t->status_sent) {
        t->status_sent = true;
        if (t->cb.on_status != NULL)
            t->cb.on_status(t->ud, t->head.status);
    }
}

static void on_head_field(void *ud, const char *name, size_t nlen, const char *value, size_t vlen)
{
    llg_h1_transfer_t *t = ud;
    if (t->head.status < 200 || t->cancelled)
        return; /* an interim response's fields are not the answer's */
    t->in_cb = true;
    report_status(t);
    if (!t->cancelled && t->cb.on_header != NULL)
        t->cb.on_header(t->ud, name, nlen, value, vlen);
    t->in_cb = false;
}

/* Reads the head; false when the transfer ended or needs more bytes. */
/* Whether buf[0..len) may hold a whole head: an LF followed by LF or CRLF
 * after `from`. Searching only the new bytes keeps a head that trickles in a
 * byte at a time linear, not quadratic, in its length. */
static bool head_may_end(const char *buf, size_t len, size_t from)
{
    const char *e = buf + len;
    for (const char *p = buf + from; p < e && (p = memchr(p, '\n', (size_t)(e - p))) != NULL; p++)
        if ((p + 1 < e && p[1] == '\n') || (p + 2 < e && p[1] == '\r' && p[2] == '\n'))
            return true;
    return false;
}

static bool read_head(llg_h1_transfer_t *t)
{
    h2o_buffer_t *in = t->conn->sock->input;
    for (;;) {
        /* a head that came whole is parsed at once (one scan); after an
         * incomplete parse only the new bytes are searched for its end */
        if (!t->eof && t->scanned > 0 && in->size < LLG_H1_HEAD_MAX && !head_may_end(in->bytes, in->size, t->scanned)) {
            t->scanned = in->size - 2;
            return false;
        }
        ssize_t r = llg_h1_parse_head(in->bytes, in->size, &t->head, on_head_field, t);
        if (t->cancelled) {
            transfer_free(t);
            return false;
        }
        if (r < 0) {
            finish(t, CURLE_WEIRD_SERVER_REPLY);
            return false;
        }
        if (r == 0) {
            if (t->eof) {
                if (!retry_fresh(t))
                    finish(t, t->got_bytes ? CURLE_RECV_ERROR : CURLE_GOT_NOTHING);
            } else {
                /* the last two bytes may begin the end */
                t->scanned = in->size > 2 ? in->size - 2 : 0;
            }
            return false;
        }
        t->scanned = 0;
        h2o_buffer_consume(&t->conn->sock->input, (size_t)r);
        in = t->conn->sock->input;
        if (t->head.status == 101) {
            finish(t, CURLE_WEIRD_SERVER_REPLY); /* no upgrade was asked for */
            return false;
        }
        if (t->head.status >= 200)
            break;
        memset(&t->head, 0, sizeof(t->head)); /* 1xx: the answer follows */
    }
    t->in_cb = true;
    report_status(t);
    t->in_cb = false;
    if (t->cancelled) {
        transfer_free(t);
        return false;
    }
    t->head_done = true;
    switch (t->head.framing) {
    case LLG_H1_BODY_NONE:
        t->body_done = true;
        break;
    case LLG_H1_BODY_LENGTH:
        t->left = t->head.content_length;
        t->body_done = t->left == 0;
        break;
    case LLG_H1_BODY_CHUNKED:
        memset(&t->chunked, 0, sizeof(t->chunked));
        break;
    case LLG_H1_BODY_CLOSE:
        break;
    }
    return true;
}

/* Decodes the input after the pending bytes; false when the transfer ended. */
static bool decode_body(llg_h1_transfer_t *t)
{
    h2o_buffer_t *in = t->conn->sock->input;
    size_t len = in->size - t->pending;
    if (t->body_done || len == 0)
        goto Eof;
    /* not before: an empty buffer may have no bytes at all (NULL + 0 is
     * undefined, UBSan's "applying zero offset to null pointer") */
    char *base = in->bytes + t->pending;
    switch (t->head.framing) {
    case LLG_H1_BODY_LENGTH: {
        size_t n = len < t->left ? len : (size_t)t->left;
        t->pending += n;
        t->left -= n;
        t->body_done = t->left == 0;
        break;
    }
    case LLG_H1_BODY_CHUNKED: {
        size_t out, used;
        int rc = llg_h1_chunked_decode(&t->chunked, base, len, &out, &used);
        if (rc < 0) {
            finish(t, CURLE_RECV_ERROR);
            return false;
        }
        memmove(base + out, base + used, len - used);
        in->size -= used - out;
        t->pending += out;
        t->body_done = rc == 1;
        break;
    }
    default: /* until the close */
        t->pending += len;
        break;
    }
Eof:
    if (t->eof && !t->body_done) {
        /* A body delimited by the close ends there; over TLS only with the
         * upstream's close_notify: a TCP close without one (an attacker's
         * FIN, a crashed server) may have cut it anywhere, and a cut JSON
         * answer would go to the client as a whole 200 (found by
         * tests/integration/upstream-tls-hostile.test.mjs, http10cut) */
        if (t->head.framing != LLG_H1_BODY_CLOSE || (t->target->tls != NULL && !llg_h1_tls_close_notified(t->conn->sock))) {
            finish(t, CURLE_PARTIAL_FILE);
            return false;
        }
        t->body_done = true;
    }
    return true;
}

/* Runs the response as far as the input and the consumer allow. */
static void process(llg_h1_transfer_t *t)
{
    if (!t->head_done && !read_head(t))
        return;
    if (!t->paused && !decode_body(t))
        return;
    if (t->pending > 0 && !t->paused) {
        t->in_cb = true;
        size_t r = t->cb.on_data(t->ud, t->conn->sock->input->bytes, t->pending);
        t->in_cb = false;
        if (t->cancelled) {
            transfer_free(t);
            return;
        }
        if (r == LLG_H1_PAUSE) {
            t->paused = true;
            h2o_socket_read_stop(t->conn->sock);
            return;
        }
        if (r != t->pending) {
            finish(t, CURLE_WRITE_ERROR);
            return;
        }
        h2o_buffer_consume(&t->conn->sock->input, t->pending);
        t->pending = 0;
    }
    if (t->paused)
        return;
    if (t->body_done) {
        finish(t, CURLE_OK);
        return;
    }
    if (!h2o_socket_is_reading(t->conn->sock))
        h2o_socket_read_start(t->conn->sock, on_read);
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    conn_t *conn = sock->data;
    llg_h1_transfer_t *t = conn->t;
    if (t->target->tls != NULL && !t->got_bytes && !t->reused && (err != NULL || sock->bytes_read == 0) &&
        llg_h1_tls_refused(t->target->tls, err)) {
        finish(t, CURLE_SSL_CONNECT_ERROR);
        return;
    }
    if (err != NULL) {
        t->eof = true;
        h2o_socket_read_stop(sock);
    } else if (sock->bytes_read == 0) {
        return;
    } else {
        t->got_bytes = true;
    }
    process(t);
}

/* ---- public ------------------------------------------------------------ */

llg_h1_client_t *llg_h1_create(h2o_loop_t *loop, uint64_t connect_timeout_ms)
{
    llg_h1_client_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->loop = loop;
    c->connect_ms = connect_timeout_ms;
    static const char *const proxy_vars[] = {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"};
    for (size_t i = 0; i < sizeof(proxy_vars) / sizeof(proxy_vars[0]); i++) {
        const char *v = getenv(proxy_vars[i]);
        c->off = c->off || (v != NULL && v[0] != '\0');
    }
    h2o_timeout_init(loop, &c->connect_timeout, connect_timeout_ms);
    h2o_timeout_init(loop, &c->idle_timeout, IDLE_MS);
    h2o_timeout_init(loop, &c->zero_timeout, 0);
    return c;
}

bool llg_h1_takes(const llg_h1_client_t *c, const char *url)
{
    char host[HOST_MAX + 1];
    uint16_t port;
    const char *path;
    bool https;
    return !c->off && llg_h1_split_url(url, &https, host, &port, &path) == 0;
}

llg_h1_tls_t *llg_h1_add_tls(llg_h1_client_t *c, const char *base_url, const llg_conf_tls_t *conf, const char *label, char *err,
                             size_t errsize)
{
    char host[HOST_MAX + 1];
    uint16_t port;
    const char *path;
    bool https;
    if (llg_h1_split_url(base_url, &https, host, &port, &path) != 0 || !https) {
        snprintf(err, errsize, "not an https:// URL this client serves");
        return NULL;
    }
    llg_h1_tls_t **v = realloc(c->tls, (c->ntls + 1) * sizeof(*v));
    if (v == NULL) {
        snprintf(err, errsize, "out of memory");
        return NULL;
    }
    c->tls = v;
    llg_h1_tls_t *tls = llg_h1_tls_create(c->loop, host, port, conf, label, err, errsize);
    if (tls != NULL)
        c->tls[c->ntls++] = tls;
    return tls;
}

static target_t *get_target(llg_h1_client_t *c, const char *host, uint16_t port, llg_h1_tls_t *tls, llg_cap_t *cap)
{
    for (target_t *tg = c->targets; tg != NULL; tg = tg->next)
        if (tg->port == port && tg->tls == tls && tg->cap == cap && strcmp(tg->host, host) == 0)
            return tg;
    target_t *tg = calloc(1, sizeof(*tg));
    if (tg == NULL)
        return NULL;
    snprintf(tg->host, sizeof(tg->host), "%s", host);
    tg->tls = tls;
    tg->cap = cap;
    bool v6 = strchr(host, ':') != NULL;
    if (port == (tls != NULL ? 443 : 80))
        snprintf(tg->authority, sizeof(tg->authority), v6 ? "[%s]" : "%s", host);
    else
        snprintf(tg->authority, sizeof(tg->authority), v6 ? "[%s]:%u" : "%s:%u", host, (unsigned)port);
    tg->port = port;
    h2o_linklist_init_anchor(&tg->idle);
    struct sockaddr_in *s4 = (struct sockaddr_in *)&tg->addrs[0];
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&tg->addrs[0];
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        tg->addrlens[0] = sizeof(*s4);
        tg->naddrs = 1;
        tg->literal = true;
    } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        tg->addrlens[0] = sizeof(*s6);
        tg->naddrs = 1;
        tg->literal = true;
    }
    tg->next = c->targets;
    c->targets = tg;
    return tg;
}

llg_h1_transfer_t *llg_h1_post(llg_h1_client_t *c, const char *url, llg_h1_tls_t *tls, llg_cap_t *cap, h2o_iovec_t lines,
                               h2o_iovec_t body, const llg_h1_callbacks_t *cb, void *ud)
{
    char host[HOST_MAX + 1];
    uint16_t port;
    const char *path;
    bool https;
    if (llg_h1_split_url(url, &https, host, &port, &path) != 0 || (https && tls == NULL))
        return NULL;
    target_t *tg = get_target(c, host, port, https ? tls : NULL, cap != NULL && cap->max > 0 ? cap : NULL);
    llg_h1_transfer_t *t = tg != NULL ? calloc(1, sizeof(*t)) : NULL;
    if (t == NULL)
        return NULL;
    if ((t->req = llg_h1_request_head(path, tg->authority, lines.base, lines.len, body.len, &t->req_len)) == NULL) {
        free(t);
        return NULL;
    }
    t->c = c;
    t->target = tg;
    t->cb = *cb;
    t->ud = ud;
    t->body = body;
    if (!h2o_linklist_is_empty(&tg->idle)) {
        conn_t *conn = H2O_STRUCT_FROM_MEMBER(conn_t, link, tg->idle.next);
        h2o_linklist_unlink(&conn->link);
        tg->nidle--;
        h2o_timeout_unlink(&conn->idle_entry);
        t->reused = true;
        send_request(t, conn);
    } else if (tg->cap == NULL) {
        start_connect(t);
    } else if (llg_cap_take(tg->cap)) {
        t->has_slot = true;
        start_connect(t);
    } else {
        llg_cap_wait(tg->cap, &t->wait); /* every connection is busy: the next one to come free */
    }
    return t;
}

void llg_h1_cancel(llg_h1_transfer_t *t)
{
    if (t->in_cb) {
        t->cancelled = true; /* freed where the callback returns */
        return;
    }
    transfer_free(t);
}

bool llg_h1_queued(const llg_h1_transfer_t *t)
{
    return t->wait.queued;
}

void llg_h1_resume(llg_h1_transfer_t *t)
{
    if (!t->paused)
        return;
    t->paused = false;
    if (t->in_cb)
        return; /* the delivery loop that called back goes on */
    process(t);
}
