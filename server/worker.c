/*
 * server/worker.c: the worker's event loop, accept path and drain (see
 * worker.h).
 */
#include "server/worker.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "h2o.h"
#include "server/admission.h"
#include "server/access_log.h"
#include "server/otel.h"
#include "server/app.h"
#include "server/early.h"
#include "server/h2_reset.h"
#include "server/log.h"
#include "server/memtrim.h"

typedef struct worker_listener {
    uv_tcp_t handle;
    h2o_accept_ctx_t accept_ctx;
} worker_listener_t;

static struct {
    llg_app_t app;
    uv_loop_t loop;
    worker_listener_t *listeners;
    size_t listener_count;
    uv_signal_t sigterm;
    uv_signal_t sigusr1; /* reopen the access log (logrotate) */
    uv_timer_t drain_timer;
    uv_timer_t idle_sweep;
    llg_memtrim_t memtrim;
    size_t open_conns;
    unsigned index;
} w;

static void check_drained(void)
{
    if (w.app.draining && w.open_conns == 0)
        uv_stop(&w.loop);
}

/* An accepted connection: its handle and the address it is counted under
 * (server/admission.h). */
typedef struct worker_conn {
    uv_tcp_t handle;
    llg_client_addr_t addr;
} worker_conn_t;

static void on_conn_close(uv_handle_t *handle)
{
    worker_conn_t *conn = H2O_STRUCT_FROM_MEMBER(worker_conn_t, handle, (uv_tcp_t *)handle);
    llg_admission_conn_close(llg_early_admission(), &conn->addr);
    free(conn);
    w.open_conns--;
    check_drained();
}

static void on_refused_close(uv_handle_t *handle)
{
    free(H2O_STRUCT_FROM_MEMBER(worker_conn_t, handle, (uv_tcp_t *)handle));
}

/* Says once a second at most that connections are being refused. */
static void warn_refused(llg_admit_t why)
{
    static uint64_t last_ms, refused;
    refused++;
    uint64_t now = uv_now(&w.loop);
    if (last_ms != 0 && now - last_ms < 1000)
        return;
    last_ms = now;
    llg_warn("worker %u: connection refused at accept: %s (%llu refused so far)", w.index,
             why == LLG_ADMIT_CLIENT_FULL ? "its client address has limits.max_connections_per_client open"
                                          : "limits.max_connections reached",
             (unsigned long long)refused);
}

static void on_accept(uv_stream_t *listener, int status)
{
    /* accept even while draining: libuv has already taken the connection from
     * the kernel, and leaving it would drop it unanswered */
    if (status != 0)
        return;
    worker_listener_t *l = listener->data;
    worker_conn_t *conn = malloc(sizeof(*conn));
    if (conn == NULL)
        return;
    uv_tcp_init(listener->loop, &conn->handle);
    if (uv_accept(listener, (uv_stream_t *)&conn->handle) != 0) {
        uv_close((uv_handle_t *)&conn->handle, on_refused_close);
        return;
    }
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    memset(&ss, 0, sizeof(ss));
    if (uv_tcp_getpeername(&conn->handle, (struct sockaddr *)&ss, &len) != 0)
        ss.ss_family = AF_UNSPEC;
    conn->addr = llg_client_addr_from(&ss);
    llg_admit_t admit = llg_admission_conn_open(llg_early_admission(), &conn->addr);
    if (admit != LLG_ADMIT_OK) {
        warn_refused(admit);
        uv_close((uv_handle_t *)&conn->handle, on_refused_close);
        return;
    }
    /* streamed events must leave at once, not wait for Nagle */
    uv_tcp_nodelay(&conn->handle, 1);
    w.open_conns++;
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)&conn->handle, on_conn_close);
    h2o_accept(&l->accept_ctx, sock);
}

static void on_drain_timeout(uv_timer_t *timer)
{
    (void)timer;
    llg_warn("worker %u: drain timeout reached with %zu connection(s) open; exiting", w.index, w.open_conns);
    exit(0);
}

/* Closes the HTTP/1.1 connections that have waited for a request for longer
 * than DRAIN_IDLE_GRACE_MS (h2o 2.2.5 would keep idle keep-alive connections
 * until its request timeout).
 *
 * Why a second, not "at once": closing an idle keep-alive connection races
 * with its client, which may be sending its next request on it at that very
 * moment; that request is lost (the client sees a reset or an empty reply,
 * and most clients do not retry a POST). While the drain lasts, every request
 * that does arrive is served, with `Connection: close` (h2o clears
 * http1_is_persistent once shutdown_requested is set), so the connection ends
 * cleanly after it. A client that reuses its connections within a second,
 * as interactive and busy clients do, is therefore never cut: it always gets
 * its `Connection: close` answer first. Measured: with the old 250 ms, about
 * one request in 700 failed this way under repeated reloads with clients
 * pausing 200-350 ms between requests (tests/integration/faults-load.test.mjs).
 * The residual race: a client that sends on a connection it left idle for
 * exactly DRAIN_IDLE_GRACE_MS (or for longer, if it does not notice the FIN
 * first) - the same race any keep-alive timeout has, which clients handle by
 * keeping their own idle timeout below the server's. A connection accepted
 * just before the drain gets the same second to deliver its first request.
 * The cost: a drain with idle connections lasts about a second, SIGTERM
 * included (an idle connection keeps a worker at most that long). */
#define DRAIN_IDLE_GRACE_MS 1000
static void on_idle_sweep(uv_timer_t *timer)
{
    (void)timer;
    h2o_timeout_run(&w.loop, &w.app.ctx.http1.req_timeout, h2o_now(&w.loop));
}

static void begin_drain(void)
{
    if (w.app.draining)
        return;
    w.app.draining = true;
    for (size_t i = 0; i < w.listener_count; i++)
        uv_close((uv_handle_t *)&w.listeners[i].handle, NULL);
    /* HTTP/2: GOAWAY; HTTP/1.1: no keep-alive after the current response */
    h2o_context_request_shutdown(&w.app.ctx);
    if (w.app.ctx.http1.req_timeout.timeout > DRAIN_IDLE_GRACE_MS)
        w.app.ctx.http1.req_timeout.timeout = DRAIN_IDLE_GRACE_MS;
    uv_timer_init(&w.loop, &w.idle_sweep);
    uv_timer_start(&w.idle_sweep, on_idle_sweep, 0, 50);
    uv_unref((uv_handle_t *)&w.idle_sweep);
    uv_timer_init(&w.loop, &w.drain_timer);
    uv_timer_start(&w.drain_timer, on_drain_timeout, w.app.conf->timeouts.drain_ms, 0);
    uv_unref((uv_handle_t *)&w.drain_timer);
    llg_debug("worker %u: draining %zu connection(s)", w.index, w.open_conns);
    check_drained();
}

static void on_sigterm(uv_signal_t *handle, int signum)
{
    (void)handle;
    (void)signum;
    begin_drain();
}

static void on_sigusr1(uv_signal_t *handle, int signum)
{
    (void)handle;
    (void)signum;
    if (w.app.access_log != NULL)
        llg_access_log_reopen(w.app.access_log);
}

void llg_worker_run(const llg_conf_t *conf, const llg_listeners_t *listeners, llg_pool_t *pool, const llg_pool_view_t *view,
                    unsigned index, unsigned generation)
{
    pid_t master = getppid();
    /* a worker never outlives its master */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != master)
        exit(0);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, SIG_IGN); /* a terminal's Ctrl-C reaches the master, which drains the workers */
    signal(SIGHUP, SIG_IGN);

    memset(&w, 0, sizeof(w));
    w.index = index;
    llg_app_init(&w.app, conf, pool, view);
    uv_loop_init(&w.loop);
    h2o_context_init(&w.app.ctx, &w.loop, &w.app.h2o);
    llg_app_context_init(&w.app);

    w.listener_count = listeners->count;
    w.listeners = calloc(listeners->count ? listeners->count : 1, sizeof(*w.listeners));
    if (w.listeners == NULL)
        abort();
    for (size_t i = 0; i < listeners->count; i++) {
        worker_listener_t *l = &w.listeners[i];
        l->accept_ctx.ctx = &w.app.ctx;
        l->accept_ctx.hosts = w.app.h2o.hosts;
        l->accept_ctx.ssl_ctx = listeners->items[i].ssl_ctx;
        uv_tcp_init(&w.loop, &l->handle);
        l->handle.data = l;
        int r;
        if ((r = uv_tcp_open(&l->handle, listeners->items[i].fd)) != 0 ||
            (r = uv_listen((uv_stream_t *)&l->handle, 4096, on_accept)) != 0) {
            llg_error("worker %u: cannot accept on %s port %u: %s", index, listeners->items[i].address,
                      (unsigned)listeners->items[i].port, uv_strerror(r));
            exit(2);
        }
    }

    uv_signal_init(&w.loop, &w.sigterm);
    uv_signal_start(&w.sigterm, on_sigterm, SIGTERM);
    uv_unref((uv_handle_t *)&w.sigterm);
    uv_signal_init(&w.loop, &w.sigusr1);
    uv_signal_start(&w.sigusr1, on_sigusr1, SIGUSR1);
    uv_unref((uv_handle_t *)&w.sigusr1);
    llg_memtrim_start(&w.memtrim, &w.loop);
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);

    llg_debug("worker %u (generation %u) started", index, generation);
    uv_run(&w.loop, UV_RUN_DEFAULT);
    /* the exporter's last flush runs the loop, where a request may still
     * end and log: the access log is written out after it */
    llg_otel_finish(w.app.otel, 2000);
    if (w.app.access_log != NULL)
        llg_access_log_finish(w.app.access_log, 1000);
    /* (this call also links server/h2_reset.c, whose other entry points are
     * the libh2o functions it stands in front of) */
    llg_debug("worker %u drained (%llu HTTP/2 connection(s) closed for rapid reset)", index,
              (unsigned long long)llg_h2_reset_closed());
    exit(0);
}
