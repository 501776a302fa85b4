/*
 * server/linger.c: the lingering close of marked HTTP/1.x sockets (see
 * linger.h).
 */
#include "server/linger.h"

#include <stdlib.h>

#include "server/interpose.h"

typedef struct lingering {
    struct lingering *next;
    h2o_socket_t *sock;
    int lingering;
    h2o_timeout_entry_t timeout;
} lingering_t;

static lingering_t *lingers;
static size_t linger_count;
static h2o_timeout_t lingering_timeout;
static h2o_loop_t *linger_loop;

typedef void (*socket_close_fn)(h2o_socket_t *);

static socket_close_fn libh2o_socket_close(void)
{
    static socket_close_fn fn;
    if (fn == NULL)
        *(void **)&fn = llg_interpose_next("h2o_socket_close");
    return fn;
}

size_t llg_linger_count(void)
{
    return linger_count;
}

void llg_linger_mark(h2o_socket_t *sock)
{
    for (lingering_t *l = lingers; l != NULL; l = l->next)
        if (l->sock == sock)
            return;
    lingering_t *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return; /* closed at once, as h2o would */
    l->sock = sock;
    l->next = lingers;
    lingers = l;
    linger_count++;
}

static lingering_t **slot_of(h2o_socket_t *sock)
{
    lingering_t **p = &lingers;
    while (*p != NULL && (*p)->sock != sock)
        p = &(*p)->next;
    return p;
}

/* Drops the entry of a marked or lingering socket. */
static void forget(lingering_t *l)
{
    *slot_of(l->sock) = l->next;
    linger_count--;
    h2o_timeout_unlink(&l->timeout);
    free(l);
}

static void finish(lingering_t *l)
{
    h2o_socket_t *sock = l->sock;
    forget(l);
    h2o_socket_read_stop(sock);
    libh2o_socket_close()(sock);
}

static void on_lingering_timeout(h2o_timeout_entry_t *entry)
{
    finish(H2O_STRUCT_FROM_MEMBER(lingering_t, timeout, entry));
}

static void on_linger_read(h2o_socket_t *sock, const char *err)
{
    lingering_t *l = *slot_of(sock);
    if (l == NULL)
        return;
    if (err != NULL) {
        finish(l);
        return;
    }
    h2o_buffer_consume(&sock->input, sock->input->size);
}

void h2o_socket_close(h2o_socket_t *sock)
{
    lingering_t *l = *slot_of(sock);
    if (l == NULL || l->lingering) {
        if (l != NULL)
            forget(l); /* closed again while lingering: the last close wins */
        libh2o_socket_close()(sock);
        return;
    }
    h2o_loop_t *loop = h2o_socket_get_loop(sock);
    if (linger_loop == NULL) {
        linger_loop = loop;
        h2o_timeout_init(loop, &lingering_timeout, LLG_LINGER_MS);
    }
    l->lingering = 1;
    l->timeout.cb = on_lingering_timeout;
    h2o_timeout_link(loop, &lingering_timeout, &l->timeout);
    if (sock->input->size != 0)
        h2o_buffer_consume(&sock->input, sock->input->size);
    h2o_socket_read_start(sock, on_linger_read);
}
