/*
 * server/curl_loop.c: libcurl multi_socket driven by libuv (see curl_loop.h),
 * and the connection cap of providers on libcurl: a capped provider's
 * transfers in progress take the slots of its cap (upstream_cap.h), so at
 * most that many of its connections are busy; a transfer past the cap waits
 * outside the multi handle until one ends. libcurl's
 * CURLMOPT_MAX_HOST_CONNECTIONS would count per host, not per provider.
 */
#include "server/curl_loop.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server/log.h"
#include "server/upstream_cap.h"

typedef struct transfer {
    llg_curl_done_cb done;
    void *data;
    bool cancelled;
    CURL *easy;
    llg_cap_t *cap;        /* its provider's cap, or NULL */
    llg_cap_waiter_t wait; /* queued: not yet in the multi handle */
    bool has_slot, is_ready;
    bool retried;              /* sent again on a fresh connection (retry_stale) */
    struct transfer *next;     /* in `ready` */
    char err[CURL_ERROR_SIZE]; /* CURLOPT_ERRORBUFFER */
} transfer_t;

struct llg_curl {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    unsigned running;
    int depth;     /* > 0 while inside curl_multi_* calls: removals must wait */
    CURL **doomed; /* cancelled handles waiting for a safe point */
    size_t ndoomed, capdoomed;
    struct deferred {
        void *p;
        void (*fn)(void *);
    } * deferred; /* objects to free at the same safe point */
    size_t ndeferred, capdeferred;
    CURL *spare[64];     /* finished easy handles kept for reuse */
    const char *ca_file; /* $SSL_CERT_FILE: the CA bundle instead of libcurl's built-in one, as OpenSSL reads it */
    size_t nspare;
    struct poll_ctx **byfd; /* the poll of each connection socket curl opened */
    size_t nbyfd;
    struct llg_curl_tls *tls; /* per provider (llg_curl_use_tls) */
    size_t ntls;
    char err[CURL_ERROR_SIZE]; /* the error text of the done callback running */
    transfer_t *ready;         /* waiters that got a slot, added to the multi handle at the next safe point */
};

/* One per socket curl asks to watch. The poll of a connection socket (one
 * curl opened through on_open_socket) lives until curl closes the socket, not
 * just while a transfer uses it: libuv's uv_poll_start() costs two epoll_ctl
 * calls (it always deletes the fd from the epoll set first) and a new poll an
 * ioctl as well, and a keep-alive connection would pay them per request. */
typedef struct poll_ctx {
    uv_poll_t poll;
    llg_curl_t *curl;
    curl_socket_t fd;
    bool inited; /* poll was initialised (uv_close needed) */
    bool owned;  /* a connection socket: closed through on_close_socket */
    bool wanted; /* curl watches it now (else it is idle in the pool) */
    int events;  /* what the poll watches now (UV_READABLE...), 0 stopped */
} poll_ctx_t;

static void process_completions(llg_curl_t *c);
static void reap_doomed(llg_curl_t *c);
static void slot_free(llg_curl_t *c, transfer_t *t);

static void socket_action(llg_curl_t *c, curl_socket_t fd, int events)
{
    int running = 0;
    c->depth++;
    curl_multi_socket_action(c->multi, fd, events, &running);
    c->depth--;
    process_completions(c);
    reap_doomed(c);
}

static void on_poll(uv_poll_t *handle, int status, int events)
{
    poll_ctx_t *p = handle->data;
    if (!p->wanted) {
        /* an idle keep-alive connection became readable: the upstream closed
         * it (or sent junk); curl finds out when it next checks the
         * connection. Stop watching, or the level-triggered event repeats. */
        uv_poll_stop(&p->poll);
        p->events = 0;
        return;
    }
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    socket_action(p->curl, p->fd, flags);
}

static void on_poll_close(uv_handle_t *handle)
{
    free(handle->data);
}

static poll_ctx_t *byfd_get(llg_curl_t *c, curl_socket_t fd)
{
    return fd >= 0 && (size_t)fd < c->nbyfd ? c->byfd[fd] : NULL;
}

static int byfd_set(llg_curl_t *c, curl_socket_t fd, poll_ctx_t *p)
{
    if (fd < 0)
        return -1;
    if ((size_t)fd >= c->nbyfd) {
        size_t n = c->nbyfd ? c->nbyfd : 64;
        while (n <= (size_t)fd)
            n *= 2;
        poll_ctx_t **a = realloc(c->byfd, n * sizeof(*a));
        if (a == NULL)
            return -1;
        memset(a + c->nbyfd, 0, (n - c->nbyfd) * sizeof(*a));
        c->byfd = a;
        c->nbyfd = n;
    }
    c->byfd[fd] = p;
    return 0;
}

/* Forgets a poll: closed (its fd leaves the epoll set at once, while the fd
 * is still open) and freed. */
static void poll_destroy(llg_curl_t *c, poll_ctx_t *p)
{
    if (byfd_get(c, p->fd) == p)
        c->byfd[p->fd] = NULL;
    if (p->inited)
        uv_close((uv_handle_t *)&p->poll, on_poll_close);
    else
        free(p);
}

static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *addr)
{
    llg_curl_t *c = clientp;
    (void)purpose;
    curl_socket_t fd = socket(addr->family, addr->socktype, addr->protocol);
    if (fd == CURL_SOCKET_BAD)
        return fd;
    poll_ctx_t *old = byfd_get(c, fd);
    if (old != NULL)
        poll_destroy(c, old); /* stale: the fd was closed behind our back */
    poll_ctx_t *p = calloc(1, sizeof(*p));
    if (p == NULL || byfd_set(c, fd, p) != 0) {
        free(p);
        close(fd);
        return CURL_SOCKET_BAD;
    }
    p->curl = c;
    p->fd = fd;
    p->owned = true;
    return fd;
}

static int on_close_socket(void *clientp, curl_socket_t fd)
{
    llg_curl_t *c = clientp;
    poll_ctx_t *p = byfd_get(c, fd);
    if (p != NULL)
        poll_destroy(c, p);
    return close(fd);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    llg_curl_t *c = userp;
    poll_ctx_t *p = socketp != NULL ? socketp : byfd_get(c, fd);
    if (what == CURL_POLL_REMOVE) {
        if (p != NULL) {
            curl_multi_assign(c->multi, fd, NULL);
            if (!p->owned) {
                /* not a connection socket (the threaded resolver's): curl
                 * closes it without telling on_close_socket */
                poll_destroy(c, p);
                return 0;
            }
            /* back in the keep-alive pool: watched for a close while idle,
             * which needs reading only */
            p->wanted = false;
            if (p->inited)
                uv_unref((uv_handle_t *)&p->poll); /* an idle poll keeps no loop alive */
            if (p->events != 0 && p->events != UV_READABLE) {
                uv_poll_stop(&p->poll);
                p->events = 0;
            }
        }
        return 0;
    }
    if (p == NULL) {
        p = calloc(1, sizeof(*p));
        if (p == NULL)
            return -1;
        p->curl = c;
        p->fd = fd;
    }
    if (!p->inited) {
        if (uv_poll_init_socket(c->loop, &p->poll, fd) != 0) {
            if (byfd_get(c, fd) == p)
                c->byfd[fd] = NULL;
            free(p);
            return -1;
        }
        p->inited = true;
        p->poll.data = p;
    }
    if (socketp == NULL)
        curl_multi_assign(c->multi, fd, p);
    if (!p->wanted)
        uv_ref((uv_handle_t *)&p->poll);
    p->wanted = true;
    int events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= UV_WRITABLE;
    if (events != p->events) {
        p->events = events;
        uv_poll_start(&p->poll, events, on_poll);
    }
    return 0;
}

static void on_timer(uv_timer_t *timer)
{
    socket_action(timer->data, CURL_SOCKET_TIMEOUT, 0);
}

static int on_timer_change(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    llg_curl_t *c = userp;
    /* never call curl from here: a 0 timeout runs on the next loop turn */
    if (timeout_ms < 0)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

llg_curl_t *llg_curl_create(uv_loop_t *loop)
{
    llg_curl_t *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->loop = loop;
    const char *ca = getenv("SSL_CERT_FILE");
    c->ca_file = ca != NULL && ca[0] != '\0' ? ca : NULL;
    c->multi = curl_multi_init();
    if (c->multi == NULL) {
        free(c);
        return NULL;
    }
    uv_timer_init(loop, &c->timer);
    c->timer.data = c;
    uv_unref((uv_handle_t *)&c->timer);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer_change);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    /* the keep-alive pool to upstreams: enough for many concurrent streams */
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, 1024L);
    return c;
}

/* Hands the transfer to libcurl. */
static CURLMcode start(llg_curl_t *c, CURL *easy)
{
    c->depth++;
    CURLMcode rc = curl_multi_add_handle(c->multi, easy);
    c->depth--;
    return rc;
}

int llg_curl_add(llg_curl_t *c, CURL *easy, llg_cap_t *cap, llg_curl_done_cb done, void *data)
{
    transfer_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -1;
    t->done = done;
    t->data = data;
    t->easy = easy;
    t->cap = cap != NULL && cap->max > 0 ? cap : NULL;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, t);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t->err);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, c);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
    curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, c);
    if (t->cap != NULL && !llg_cap_take(t->cap)) {
        llg_cap_wait(t->cap, &t->wait); /* every slot is taken: until one ends */
        c->running++;
        return 0;
    }
    t->has_slot = t->cap != NULL;
    CURLMcode rc = start(c, easy);
    if (rc != CURLM_OK) {
        slot_free(c, t);
        curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        free(t);
        return -1;
    }
    c->running++;
    return 0;
}

static void remove_and_free(llg_curl_t *c, CURL *easy)
{
    transfer_t *t = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
    c->depth++;
    curl_multi_remove_handle(c->multi, easy);
    c->depth--;
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_cleanup(easy);
    free(t);
}

/* The transfer ends or is cancelled: its slot goes to the first waiter,
 * which libcurl gets at the next safe point (flush_ready). */
static void slot_free(llg_curl_t *c, transfer_t *t)
{
    if (t->cap == NULL)
        return;
    llg_cap_leave(t->cap, &t->wait);
    if (t->is_ready) {
        for (transfer_t **pp = &c->ready; *pp != NULL; pp = &(*pp)->next)
            if (*pp == t) {
                *pp = t->next;
                break;
            }
        t->is_ready = false;
    }
    if (!t->has_slot)
        return;
    t->has_slot = false;
    llg_cap_waiter_t *w = llg_cap_release(t->cap);
    if (w == NULL)
        return;
    transfer_t *q = (transfer_t *)(void *)((char *)w - offsetof(transfer_t, wait));
    q->has_slot = q->is_ready = true;
    q->next = NULL;
    transfer_t **tail = &c->ready;
    while (*tail != NULL)
        tail = &(*tail)->next;
    *tail = q; /* FIFO */
}

/* Adds the waiters that got a slot (outside curl's calls). One libcurl
 * refuses (out of memory) ends at once with that result. */
static void flush_ready(llg_curl_t *c)
{
    while (c->depth == 0 && c->ready != NULL) {
        transfer_t *t = c->ready;
        c->ready = t->next;
        t->is_ready = false;
        if (start(c, t->easy) == CURLM_OK)
            continue;
        slot_free(c, t);
        CURL *easy = t->easy;
        llg_curl_done_cb done = t->done;
        void *data = t->data;
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
        c->running--;
        free(t);
        done(easy, CURLE_OUT_OF_MEMORY, data);
    }
}

static void reap_doomed(llg_curl_t *c)
{
    if (c->depth > 0)
        return;
    while (c->ndoomed > 0) {
        CURL *easy = c->doomed[--c->ndoomed];
        remove_and_free(c, easy);
    }
    while (c->ndeferred > 0) {
        struct deferred d = c->deferred[--c->ndeferred];
        d.fn(d.p);
    }
    flush_ready(c);
}

void llg_curl_defer_free(llg_curl_t *c, void *p, void (*fn)(void *))
{
    if (c->depth == 0) {
        fn(p);
        return;
    }
    if (c->ndeferred == c->capdeferred) {
        c->capdeferred = c->capdeferred ? c->capdeferred * 2 : 16;
        c->deferred = realloc(c->deferred, c->capdeferred * sizeof(*c->deferred));
        if (c->deferred == NULL)
            abort();
    }
    c->deferred[c->ndeferred++] = (struct deferred){p, fn};
}

void llg_curl_cancel_and_free(llg_curl_t *c, CURL *easy)
{
    transfer_t *t = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
    if (t != NULL && !t->cancelled) {
        t->cancelled = true;
        c->running--;
        slot_free(c, t); /* a queued one leaves the queue */
    }
    if (c->depth == 0) {
        remove_and_free(c, easy);
        flush_ready(c);
        return;
    }
    if (c->ndoomed == c->capdoomed) {
        c->capdoomed = c->capdoomed ? c->capdoomed * 2 : 16;
        c->doomed = realloc(c->doomed, c->capdoomed * sizeof(*c->doomed));
        if (c->doomed == NULL)
            abort();
    }
    c->doomed[c->ndoomed++] = easy;
}

void llg_curl_resume(llg_curl_t *c, CURL *easy)
{
    c->depth++;
    curl_easy_pause(easy, CURLPAUSE_CONT);
    c->depth--;
    process_completions(c);
    reap_doomed(c);
}

/* A request sent on a kept-alive connection that the upstream closed as it
 * was reused (its keep-alive timeout racing ours): libcurl found the idle
 * connection alive, then the send failed (a reset: broken pipe) or the
 * answer never began. libcurl 7.88 retries by itself only for a connection
 * that died quietly, not after a send error. Nothing of an answer reached
 * the proxy, so the transfer goes once more on a fresh connection, as the
 * own client's retry_fresh() does; the key is not blamed for the upstream's
 * idle close. Returns whether the transfer was added again. */
static bool retry_stale(llg_curl_t *c, transfer_t *t, CURL *easy, CURLcode result)
{
    if (t->retried || (result != CURLE_SEND_ERROR && result != CURLE_RECV_ERROR && result != CURLE_GOT_NOTHING))
        return false;
    long connects = -1, code = -1, head = -1;
    curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &connects);
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(easy, CURLINFO_HEADER_SIZE, &head);
    if (connects != 0 || code != 0 || head != 0)
        return false;
    t->retried = true;
    t->err[0] = '\0';
    curl_easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
    c->depth++;
    CURLMcode rc = curl_multi_add_handle(c->multi, easy);
    c->depth--;
    return rc == CURLM_OK;
}

static void process_completions(llg_curl_t *c)
{
    if (c->depth > 0)
        return;
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *easy = msg->easy_handle;
        CURLcode result = msg->data.result;
        transfer_t *t = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
        c->depth++;
        curl_multi_remove_handle(c->multi, easy);
        c->depth--;
        if (t == NULL || t->cancelled) {
            /* already counted out; freed by reap_doomed */
            continue;
        }
        if (retry_stale(c, t, easy, result))
            continue;
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
        c->running--;
        slot_free(c, t);
        llg_curl_done_cb done = t->done;
        void *data = t->data;
        memcpy(c->err, t->err, sizeof(c->err));
        c->err[sizeof(c->err) - 1] = '\0';
        free(t);
        done(easy, result, data);
        c->err[0] = '\0';
    }
}

/* A fresh or reset handle: both clients trust the same CAs by default (the
 * own client reads OpenSSL's default paths, which honour SSL_CERT_FILE). */
CURL *llg_curl_easy_get(llg_curl_t *c)
{
    CURL *easy = c->nspare > 0 ? c->spare[--c->nspare] : curl_easy_init();
    if (easy != NULL && c->ca_file != NULL)
        curl_easy_setopt(easy, CURLOPT_CAINFO, c->ca_file);
    return easy;
}

void llg_curl_easy_put(llg_curl_t *c, CURL *easy)
{
    if (c->nspare == sizeof(c->spare) / sizeof(c->spare[0])) {
        curl_easy_cleanup(easy);
        return;
    }
    curl_easy_reset(easy);
    c->spare[c->nspare++] = easy;
}

bool llg_curl_queued(CURL *easy)
{
    transfer_t *t = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
    return t != NULL && (t->wait.queued || t->is_ready);
}

unsigned llg_curl_running(const llg_curl_t *c)
{
    return c->running;
}

const char *llg_curl_error(const llg_curl_t *c)
{
    return c->err;
}

void llg_curl_use_tls(llg_curl_t *c, const llg_conf_t *conf)
{
    c->tls = llg_curl_tls_create(conf);
    c->ntls = conf->provider_count;
}

const char *llg_curl_tls_setup(llg_curl_t *c, CURL *easy, int provider, const char *url, char *buf, size_t bufsize)
{
    if (c->tls == NULL || provider < 0 || (size_t)provider >= c->ntls)
        return url;
    return llg_curl_tls_apply(c->tls, provider, easy, url, buf, bufsize);
}
