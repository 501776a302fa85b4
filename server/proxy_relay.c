/*
 * server/proxy_relay.c: the proxy's side towards the client (see
 * proxy_internal.h): the response's head, the relay of what the upstream
 * sent, the errors the client sees, the pings of a stream, and the check for
 * an HTTP/1.1 client that left before the response started.
 *
 * Relay: upstream bytes go into the accumulating buffer; when no send is in
 * flight the buffer is handed to h2o_send() and the other buffer accumulates
 * (h2o's proxy.c double buffer). When the accumulating buffer passes the high
 * water mark while a send is in flight, curl is paused and resumed from the
 * generator's proceed, so a slow client holds at most two buffers per stream.
 */
#include <poll.h>
#include <string.h>

#include "server/app.h"
#include "server/http.h"
#include "server/proxy_internal.h"
#include "server/respond.h"

/* ---- responses --------------------------------------------------------- */

void proxy_set_provider_env(proxy_t *x, int provider)
{
    llg_http_set_provider(x->app, x->req, provider);
}

/* An error response before anything was sent; the proxy is done. */
void proxy_fail(proxy_t *x, int status, const char *code, const char *fmt, const char *arg)
{
    h2o_req_t *req = x->req;
    x->req = NULL;
    proxy_end_attempt(x, 0, LLG_OUTCOME_CANCELLED, 0);
    llg_respond_error(req, status, NULL, code, NULL, fmt, arg);
    proxy_dispose(x);
}

void proxy_append_error_event(proxy_t *x, const char *type, const char *code, const char *param, const char *message)
{
    if (x->req != NULL)
        llg_reqlog_note_error(x->req, code != NULL ? code : type);
    llg_strbuf_t *b = &x->out[x->cur];
    if (x->in->protocol != LLG_PROTOCOL_OPENAI) {
        x->in->render->error_event(b, 0, type, code, message);
        return;
    }
    llg_strbuf_appends(b, "data: ");
    llg_render_error(b, type, code, param, message);
    llg_strbuf_appends(b, "\n\ndata: [DONE]\n\n");
}

void proxy_append_end_marker(proxy_t *x)
{
    if (x->in->protocol == LLG_PROTOCOL_OPENAI)
        llg_strbuf_appends(&x->out[x->cur], "data: [DONE]\n\n");
}

/* An error the client must see as it is: the last event of a stream that
 * already started (a `: ping` may have started it), else an HTTP error. The
 * proxy is done afterwards. */
void proxy_client_error(proxy_t *x, int status, const char *type, const char *code, const char *param, const char *message)
{
    proxy_end_attempt(x, 0, LLG_OUTCOME_CANCELLED, 0);
    if (type == NULL)
        type = llg_error_type_for_status(status);
    if (x->committed) {
        proxy_append_error_event(x, type, code, param, message);
        x->upstream_done = true;
        proxy_finish(x);
        return;
    }
    h2o_req_t *req = x->req;
    x->req = NULL;
    llg_http_set_provider(x->app, req, x->provider);
    llg_respond_error(req, status, type, code, param, "%s", message);
    proxy_dispose(x);
}

/* After the first upstream byte: end the response with an error the client
 * can see; a 502 when a non-stream body was still held back. */
void proxy_fail_committed(proxy_t *x, const char *code, const char *message)
{
    proxy_end_attempt(x, 0, LLG_OUTCOME_CANCELLED, 0);
    if (!x->committed) {
        /* a non-stream body still held back: nothing reached the client */
        proxy_set_provider_env(x, x->provider);
        proxy_fail(x, 502, code, "%s", message);
        return;
    }
    if (x->stream)
        proxy_append_error_event(x, "server_error", code, NULL, message);
    else
        x->error_end = true; /* a truncated JSON body must not look complete */
    if (!x->stream && x->req != NULL)
        llg_reqlog_note_error(x->req, code);
    x->upstream_done = true;
    proxy_finish(x);
}

void proxy_commit(proxy_t *x)
{
    h2o_req_t *req = x->req;
    x->committed = true;
    proxy_set_provider_env(x, x->provider);
    if (x->stream) {
        llg_set_sse_headers(req);
        llg_sse_init(&x->sse);
        if (!x->stream_counted) {
            x->stream_counted = true;
            llg_pool_stream_begin(x->app->pool);
        }
    } else {
        req->res.status = 200;
        req->res.reason = "OK";
        /* a translated answer is llmgate's JSON, whatever the upstream's type */
        const char *ct = x->content_type[0] && x->xl == NULL ? x->content_type : "application/json";
        /* h2o keeps the pointer, and the head may go out after the proxy is
         * freed (proxy_finish() sends a whole non-stream body at once) */
        h2o_iovec_t ctv = h2o_strdup(&req->pool, ct, strlen(ct));
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ctv.base, ctv.len);
        /* the upstream chose that type: a browser must not guess another */
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-content-type-options"), 0, NULL, H2O_STRLIT("nosniff"));
    }
    h2o_start_response(req, &x->super);
}

/* Sends the accumulating buffer when no send is in flight. */
void proxy_flush(proxy_t *x)
{
    if (x->sending || x->req == NULL || !x->committed)
        return;
    if (x->upstream_done) {
        proxy_finish(x);
        return;
    }
    llg_strbuf_t *b = &x->out[x->cur];
    if (b->len == 0)
        return;
    h2o_iovec_t buf = h2o_iovec_init(b->data, b->len);
    x->cur = 1 - x->cur;
    x->out[x->cur].len = 0;
    x->sending = true;
    if (x->app->ping_timeout != NULL && x->stream) {
        h2o_timeout_unlink(&x->t_ping);
        h2o_timeout_link(x->app->ctx.loop, x->app->ping_timeout, &x->t_ping);
    }
    h2o_send(x->req, &buf, 1, H2O_SEND_STATE_IN_PROGRESS);
}

/* The last send: whatever is buffered, with the final (or error) state. */
void proxy_finish(proxy_t *x)
{
    x->upstream_done = true;
    if (x->sending || x->req == NULL)
        return; /* proceed comes back here */
    llg_strbuf_t *b = &x->out[x->cur];
    if (!x->committed) {
        /* a whole body in one send: a Content-Length rather than chunks (set
         * before the response starts: h2o picks its encoders then) */
        if (!x->stream && !x->error_end)
            x->req->res.content_length = b->len;
        proxy_commit(x);
    }
    h2o_req_t *req = x->req;
    x->req = NULL;
    /* no proceed follows a final send: the bytes must live as long as the request */
    h2o_iovec_t buf = h2o_strdup(&req->pool, b->data != NULL ? b->data : "", b->len);
    h2o_send_state_t state = x->error_end ? H2O_SEND_STATE_ERROR : H2O_SEND_STATE_FINAL;
    proxy_dispose(x);
    h2o_send(req, &buf, buf.len != 0 ? 1 : 0, state);
}

static void on_proceed(h2o_generator_t *self, h2o_req_t *req)
{
    (void)req;
    proxy_t *x = (proxy_t *)self;
    x->sending = false;
    x->out[1 - x->cur].len = 0;
    if (x->upstream_done) {
        proxy_finish(x);
        return;
    }
    proxy_flush(x);
    if (x->paused && x->out[x->cur].len < HIGH_WATER) {
        x->paused = false;
        /* may call on_write (and flush, and with h1 the end of the attempt) before it returns */
        proxy_upstream_resume(x);
    }
}

static void on_stop(h2o_generator_t *self, h2o_req_t *req)
{
    (void)req;
    proxy_client_gone((proxy_t *)self);
}

/* ---- the client's timers ----------------------------------------------- */

/* HTTP/1.1: h2o reads nothing from a connection while its request is being
 * handled, so a client that leaves before the response starts would go
 * unnoticed until the upstream answered. The socket is checked for a hang-up
 * (POLLRDHUP also sees one behind unread TLS records) every
 * LLG_GONE_CHECK_MS until the response starts. */
static void on_gone_check(h2o_timeout_entry_t *entry)
{
    proxy_t *x = H2O_STRUCT_FROM_MEMBER(proxy_t, t_gone, entry);
    if (x->req == NULL || x->committed)
        return;
    h2o_socket_t *sock = x->req->conn->callbacks->get_socket != NULL ? x->req->conn->callbacks->get_socket(x->req->conn) : NULL;
    int fd = sock != NULL ? h2o_socket_get_fd(sock) : -1;
    struct pollfd pfd = {fd, POLLRDHUP, 0};
    if (fd >= 0 && poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
        h2o_req_t *req = x->req;
        proxy_client_gone(x);
        /* the write fails, and h2o closes the connection and frees the request */
        req->http1_is_persistent = 0;
        llg_respond_error(req, 499, NULL, "client_closed_request", NULL, "The client closed the connection%s.", "");
        return;
    }
    h2o_timeout_link(x->app->ctx.loop, x->app->gone_check, &x->t_gone);
}

static void on_ping(h2o_timeout_entry_t *entry)
{
    proxy_t *x = H2O_STRUCT_FROM_MEMBER(proxy_t, t_ping, entry);
    /* NDJSON has no comment line to keep a stream alive with */
    if (x->req == NULL || !x->stream || !x->in->pings)
        return;
    if (!x->committed)
        proxy_commit(x);
    if (!x->sending && x->out[x->cur].len == 0)
        llg_strbuf_appends(&x->out[x->cur], ": ping\n\n");
    proxy_flush(x);
    if (!x->sending)
        h2o_timeout_link(x->app->ctx.loop, x->app->ping_timeout, &x->t_ping);
}

void proxy_relay_init(proxy_t *x)
{
    x->super.proceed = on_proceed;
    x->super.stop = on_stop;
    x->t_ping.cb = on_ping;
    x->t_gone.cb = on_gone_check;
}
