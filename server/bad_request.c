/*
 * server/bad_request.c: the OpenAI-shaped answer to an HTTP/1.x request head
 * h2o cannot parse (see bad_request.h).
 */
#include "server/bad_request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h2o.h"
#include "server/h1_framing.h"
#include "server/interpose.h"
#include "server/http.h"
#include "server/respond.h"
#include "providers/answer.h"
#include "providers/strbuf.h"

/* the exact bytes of send_bad_request() in h2o 2.2.5 lib/http1.c */
static const char h2o_bad_request[] = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
                                      "Connection: close\r\nContent-Length: 11\r\n\r\nBad Request";
static llg_app_t *bad_request_app; /* the worker's app (one per process) */

void llg_bad_request_init(llg_app_t *app)
{
    bad_request_app = app;
}

typedef void (*socket_write_fn)(h2o_socket_t *, h2o_iovec_t *, size_t, h2o_socket_cb);

/* A replacement response, kept until its write completes. */
typedef struct bad_request_write {
    struct bad_request_write *next;
    h2o_socket_t *sock;
    h2o_socket_cb cb;
    h2o_iovec_t buf;
    char data[1536];
} bad_request_write_t;
static bad_request_write_t *bad_request_writes;

static socket_write_fn libh2o_socket_write(void)
{
    static socket_write_fn fn;
    if (fn == NULL)
        *(void **)&fn = llg_interpose_next("h2o_socket_write");
    return fn;
}

static void on_bad_request_written(h2o_socket_t *sock, const char *err)
{
    bad_request_write_t **p = &bad_request_writes;
    while (*p != NULL && (*p)->sock != sock)
        p = &(*p)->next;
    if (*p == NULL)
        return;
    bad_request_write_t *w = *p;
    *p = w->next;
    h2o_socket_cb cb = w->cb;
    free(w);
    cb(sock, err);
}

void h2o_socket_write(h2o_socket_t *sock, h2o_iovec_t *bufs, size_t bufcnt, h2o_socket_cb cb)
{
    socket_write_fn real = libh2o_socket_write();
    bad_request_write_t *w;
    if (bufcnt != 1 || bufs[0].len != sizeof(h2o_bad_request) - 1 || bad_request_app == NULL ||
        memcmp(bufs[0].base, h2o_bad_request, bufs[0].len) != 0 || (w = malloc(sizeof(*w))) == NULL) {
        real(sock, bufs, bufcnt, cb);
        return;
    }
    llg_refusal_t ref;
    if (!llg_h1_refusal_take(&ref)) {
        ref = (llg_refusal_t){.status = 400, .code = "invalid_request", .request_id = ""};
        snprintf(ref.message, sizeof(ref.message), "%s",
                 "Bad Request: the request line or header fields could not be parsed (malformed HTTP/1.x, more than 100 "
                 "header fields, or a head over 417,792 bytes).");
    }
    llg_strbuf_t body = {0};
    const llg_render_t *render = ref.anthropic ? &llg_render_anthropic : &llg_render_openai;
    render->error_body(&body, ref.status, ref.type != NULL ? ref.type : llg_error_type_for_status(ref.status), ref.code, NULL,
                       ref.message);
    if (body.data == NULL) {
        free(w);
        real(sock, bufs, bufcnt, cb);
        return;
    }
    char id[sizeof(ref.request_id)], extra[64 + sizeof(ref.request_id)] = "";
    int id_len = LLG_REQUEST_ID_LEN;
    if (ref.request_id[0] != '\0')
        id_len = snprintf(id, sizeof(id), "%s", ref.request_id);
    else
        llg_request_id_new(bad_request_app, id);
    size_t x = 0;
    if (ref.www_authenticate)
        x += (size_t)snprintf(extra, sizeof(extra), "www-authenticate: Bearer\r\n");
    else if (ref.retry_after > 0)
        x += (size_t)snprintf(extra, sizeof(extra), "retry-after: %d\r\n", ref.retry_after);
    /* Anthropic's clients read request-id */
    if (ref.anthropic)
        snprintf(extra + x, sizeof(extra) - x, "request-id: %.*s\r\n", id_len, id);
    int n = snprintf(w->data, sizeof(w->data),
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     "Content-Length: %zu\r\nx-request-id: %.*s\r\n%s\r\n%s",
                     ref.status, llg_status_reason(ref.status), body.len, id_len, id, extra, body.data);
    llg_strbuf_free(&body);
    if (n <= 0 || (size_t)n >= sizeof(w->data)) {
        free(w);
        real(sock, bufs, bufcnt, cb);
        return;
    }
    w->sock = sock;
    w->cb = cb;
    w->buf = h2o_iovec_init(w->data, (size_t)n);
    w->next = bad_request_writes;
    bad_request_writes = w;
    real(sock, &w->buf, 1, on_bad_request_written);
}
