/*
 * server/curl_loop.c: libcurl multi_socket driven by libuv (see curl_loop.h).
 */
#include "server/curl_loop.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "server/log.h"

typedef struct transfer {
    llg_curl_done_cb done;
    void *data;
    bool cancelled;
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
    CURL *spare[64]; /* finished easy handles kept for reuse */
    size_t nspare;
};

typedef struct poll_ctx {
    uv_poll_t poll;
    llg_curl_t *curl;
    curl_socket_t fd;
} poll_ctx_t;

static void process_completions(llg_curl_t *c);
static void reap_doomed(llg_curl_t *c);

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

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    llg_curl_t *c = userp;
    poll_ctx_t *p = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (p != NULL) {
            uv_poll_stop(&p->poll);
            uv_close((uv_handle_t *)&p->poll, on_poll_close);
            curl_multi_assign(c->multi, fd, NULL);
        }
        return 0;
    }
    if (p == NULL) {
        p = calloc(1, sizeof(*p));
        if (p == NULL)
            return -1;
        p->curl = c;
        p->fd = fd;
        if (uv_poll_init_socket(c->loop, &p->poll, fd) != 0) {
            free(p);
            return -1;
        }
        p->poll.data = p;
        curl_multi_assign(c->multi, fd, p);
    }
    int events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= UV_WRITABLE;
    uv_poll_start(&p->poll, events, on_poll);
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

int llg_curl_add(llg_curl_t *c, CURL *easy, llg_curl_done_cb done, void *data)
{
    transfer_t *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -1;
    t->done = done;
    t->data = data;
    curl_easy_setopt(easy, CURLOPT_PRIVATE, t);
    c->depth++;
    CURLMcode rc = curl_multi_add_handle(c->multi, easy);
    c->depth--;
    if (rc != CURLM_OK) {
        free(t);
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
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
    curl_easy_cleanup(easy);
    free(t);
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
    }
    if (c->depth == 0) {
        remove_and_free(c, easy);
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
        curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
        c->running--;
        llg_curl_done_cb done = t->done;
        void *data = t->data;
        free(t);
        done(easy, result, data);
    }
}

CURL *llg_curl_easy_get(llg_curl_t *c)
{
    if (c->nspare > 0)
        return c->spare[--c->nspare];
    return curl_easy_init();
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

unsigned llg_curl_running(const llg_curl_t *c)
{
    return c->running;
}
