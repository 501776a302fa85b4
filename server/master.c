/*
 * server/master.c: process supervision, reload and shutdown (see master.h).
 */
#include "server/master.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "server/cluster.h"
#include "server/h1_tls.h"
#include "server/listener.h"
#include "server/log.h"
#include "server/worker.h"

extern char **environ;

typedef struct worker_proc {
    pid_t pid;
    unsigned generation;
    unsigned index;
    uint64_t started_ms;
    uint64_t kill_at_ms; /* 0, or when a draining worker gets SIGKILL */
} worker_proc_t;

typedef struct pending_spawn {
    unsigned index;
    uint64_t at_ms;
} pending_spawn_t;

static volatile sig_atomic_t got_chld, got_hup, got_term, got_alrm, got_usr1;

static struct {
    llg_conf_t *conf;
    llg_pool_t *pool;
    llg_pool_view_t *view;
    const char *config_path;
    llg_listeners_t listeners;
    unsigned generation;
    worker_proc_t *procs;
    size_t nprocs;
    pending_spawn_t *pending;
    size_t npending;
    unsigned fast_deaths; /* consecutive workers that died within a second of starting */
    int stopping;         /* 0, 1 draining, 2 forced */
    uint64_t stop_deadline_ms;
} m;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_signal(int sig)
{
    switch (sig) {
    case SIGCHLD:
        got_chld = 1;
        break;
    case SIGHUP:
        got_hup = 1;
        break;
    case SIGALRM:
        got_alrm = 1;
        break;
    case SIGUSR1:
        got_usr1 = 1;
        break;
    default:
        got_term = 1;
        break;
    }
}

llg_conf_t *llg_master_load_config(const char *config_path, llg_conf_errors_t *errs)
{
    if (config_path == NULL)
        return llg_conf_load_default(environ, errs);
    return llg_conf_load_file(config_path, environ, errs);
}

static void spawn(unsigned index)
{
    pid_t pid = fork();
    if (pid < 0) {
        llg_error("fork: %s; retrying in a second", strerror(errno));
        m.pending = realloc(m.pending, (m.npending + 1) * sizeof(*m.pending));
        m.pending[m.npending++] = (pending_spawn_t){index, now_ms() + 1000};
        return;
    }
    if (pid == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_DFL;
        int sigs[] = {SIGCHLD, SIGHUP, SIGALRM, SIGTERM, SIGINT, SIGUSR1};
        for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
            sigaction(sigs[i], &sa, NULL);
        struct itimerval off;
        memset(&off, 0, sizeof(off));
        setitimer(ITIMER_REAL, &off, NULL);
        if (index == LLG_CLUSTER_LINK_INDEX)
            llg_cluster_run(m.conf, &m.listeners, m.pool, m.view);
        llg_worker_run(m.conf, &m.listeners, m.pool, m.view, index, m.generation);
    }
    m.procs = realloc(m.procs, (m.nprocs + 1) * sizeof(*m.procs));
    if (m.procs == NULL)
        abort();
    m.procs[m.nprocs++] = (worker_proc_t){pid, m.generation, index, now_ms(), 0};
}

/* With `cluster:`, the link process (server/cluster.h) is one more child,
 * supervised like a worker; /health shows the cluster degraded until it
 * connects. */
static void start_cluster_link(void)
{
    llg_pool_set_cluster_state(m.pool, m.conf->cluster.enabled ? LLG_CLUSTER_DOWN : LLG_CLUSTER_OFF);
    if (m.conf->cluster.enabled)
        spawn(LLG_CLUSTER_LINK_INDEX);
}

static void signal_generation(int sig, bool old_only, uint64_t kill_at_ms)
{
    for (size_t i = 0; i < m.nprocs; i++) {
        if (old_only && m.procs[i].generation == m.generation)
            continue;
        kill(m.procs[i].pid, sig);
        if (kill_at_ms != 0 && m.procs[i].kill_at_ms == 0)
            m.procs[i].kill_at_ms = kill_at_ms;
    }
}

/* SIGUSR1: every worker reopens its access log file (logrotate's
 * convention); the cluster link has none. */
static void reopen_logs(void)
{
    for (size_t i = 0; i < m.nprocs; i++)
        if (m.procs[i].index != LLG_CLUSTER_LINK_INDEX)
            kill(m.procs[i].pid, SIGUSR1);
}

static void reap(void)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        size_t i;
        for (i = 0; i < m.nprocs; i++)
            if (m.procs[i].pid == pid)
                break;
        if (i == m.nprocs)
            continue; /* an orphan reparented to us (PID 1 in a container) */
        worker_proc_t p = m.procs[i];
        m.procs[i] = m.procs[--m.nprocs];
        if (m.stopping || p.generation != m.generation)
            continue;
        char name[32];
        if (p.index == LLG_CLUSTER_LINK_INDEX)
            snprintf(name, sizeof(name), "cluster link");
        else
            snprintf(name, sizeof(name), "worker %u", p.index);
        if (WIFSIGNALED(status))
            llg_error("%s (pid %d) was killed by signal %d; starting a new one", name, (int)pid, WTERMSIG(status));
        else
            llg_error("%s (pid %d) exited with status %d; starting a new one", name, (int)pid, WEXITSTATUS(status));
        uint64_t now = now_ms();
        m.fast_deaths = now - p.started_ms < 1000 ? m.fast_deaths + 1 : 0;
        if (m.fast_deaths >= 3) {
            /* a worker that dies at start would otherwise fork in a tight loop */
            llg_error("workers are dying at start-up; waiting a second before the next one");
            m.pending = realloc(m.pending, (m.npending + 1) * sizeof(*m.pending));
            m.pending[m.npending++] = (pending_spawn_t){p.index, now + 1000};
        } else {
            spawn(p.index);
        }
    }
}

static void run_timers(void)
{
    uint64_t now = now_ms();
    for (size_t i = 0; i < m.nprocs; i++) {
        if (m.procs[i].kill_at_ms != 0 && now >= m.procs[i].kill_at_ms) {
            llg_warn("worker %u (pid %d) did not finish draining in time; killing it", m.procs[i].index, (int)m.procs[i].pid);
            kill(m.procs[i].pid, SIGKILL);
            m.procs[i].kill_at_ms = UINT64_MAX;
        }
    }
    for (size_t i = 0; i < m.npending;) {
        if (m.stopping) {
            m.npending = 0;
            break;
        }
        if (now >= m.pending[i].at_ms) {
            unsigned index = m.pending[i].index;
            m.pending[i] = m.pending[--m.npending];
            spawn(index);
        } else {
            i++;
        }
    }
}

/* tls.verify: false (docs/security.md) is said loudly, once per provider, at
 * start and at each reload; /health lists the providers too. */
static void warn_tls(const llg_conf_t *conf)
{
    for (size_t i = 0; i < conf->provider_count; i++) {
        const llg_conf_provider_t *p = &conf->providers[i];
        if (p->tls.set && !p->tls.verify)
            llg_warn("provider %s: tls.verify is false: the upstream's certificate is NOT checked (%s)", p->name, p->base_url);
    }
}

static void reload(void)
{
    llg_info("reloading configuration from %s", m.config_path != NULL ? m.config_path : "<default>");
    llg_conf_errors_t errs = {0};
    llg_conf_t *conf = llg_master_load_config(m.config_path, &errs);
    if (conf == NULL) {
        for (size_t i = 0; i < errs.count; i++)
            llg_error("%s", errs.items[i]);
        llg_error("configuration reload failed (%zu error(s)); keeping the current configuration", errs.count);
        llg_conf_errors_free(&errs);
        llg_pool_count_reload(m.pool, false);
        return;
    }
    llg_listeners_t listeners;
    if (llg_listeners_open(&listeners, conf, &m.listeners) != 0) {
        llg_error("configuration reload failed; keeping the current configuration");
        llg_conf_free(conf);
        llg_pool_count_reload(m.pool, false);
        return;
    }
    /* the pool keeps the state of every key and token present before and after */
    if (llg_pool_sync(&m.pool, conf, &m.view) != 0) {
        llg_error("configuration reload failed: the key pool could not be resized; keeping the current configuration");
        llg_listeners_close(&listeners);
        llg_conf_free(conf);
        llg_pool_count_reload(m.pool, false);
        return;
    }
    llg_pool_count_reload(m.pool, true);
    /* old workers keep their own copies of the sockets they still need */
    llg_listeners_close(&m.listeners);
    m.listeners = listeners;
    uint64_t old_drain = m.conf->timeouts.drain_ms;
    llg_conf_free(m.conf);
    m.conf = conf;
    m.generation++;
    m.npending = 0;
    m.fast_deaths = 0;
    for (unsigned i = 0; i < conf->workers; i++)
        spawn(i);
    /* the link of the old generation stops with its workers; a new one
     * starts with the new config and view (docs/cluster.md, "Reload") */
    start_cluster_link();
    signal_generation(SIGTERM, true, now_ms() + old_drain + 1000);
    char desc[1024];
    llg_listeners_describe(&m.listeners, desc, sizeof(desc));
    llg_info("configuration reloaded: %u worker(s), listening on %s", conf->workers, desc);
    warn_tls(conf);
}

static void begin_stop(void)
{
    if (m.stopping) {
        llg_warn("second stop signal: stopping workers now");
        m.stopping = 2;
        signal_generation(SIGKILL, false, 0);
        return;
    }
    size_t workers = 0;
    for (size_t i = 0; i < m.nprocs; i++)
        workers += m.procs[i].index != LLG_CLUSTER_LINK_INDEX;
    llg_info("stopping: draining %zu worker(s) for up to %llu ms", workers, (unsigned long long)m.conf->timeouts.drain_ms);
    m.stopping = 1;
    /* once the workers close theirs too, new connections are refused */
    llg_listeners_close(&m.listeners);
    m.npending = 0;
    signal_generation(SIGTERM, false, now_ms() + m.conf->timeouts.drain_ms + 1000);
}

int llg_master_run(llg_conf_t *conf, const char *config_path)
{
    memset(&m, 0, sizeof(m));
    m.conf = conf;
    m.config_path = config_path;

    sigset_t block, waitmask;
    sigemptyset(&block);
    int sigs[] = {SIGCHLD, SIGHUP, SIGALRM, SIGTERM, SIGINT, SIGUSR1};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaddset(&block, sigs[i]);
    sigprocmask(SIG_BLOCK, &block, &waitmask);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigdelset(&waitmask, sigs[i]);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigfillset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (llg_listeners_open(&m.listeners, conf, NULL) != 0) {
        llg_conf_free(conf);
        return 1;
    }
    size_t keys = 0;
    for (size_t i = 0; i < conf->provider_count; i++)
        keys += conf->providers[i].keys.count;
    m.pool = llg_pool_create((uint32_t)(keys * 2), (uint32_t)(conf->token_count * 2), (uint32_t)(conf->provider_count * 2));
    if (m.pool == NULL || llg_pool_sync(&m.pool, conf, &m.view) != 0) {
        llg_error("cannot create the shared key pool");
        llg_conf_free(conf);
        return 1;
    }
    for (unsigned i = 0; i < conf->workers; i++)
        spawn(i);
    start_cluster_link();
    char desc[1024];
    llg_listeners_describe(&m.listeners, desc, sizeof(desc));
    llg_info("llmgate %s: %u worker(s), config %s, listening on %s", LLG_VERSION, conf->workers, conf->source, desc);
    warn_tls(conf);

    /* a steady tick drives drain deadlines and delayed respawns */
    struct itimerval tick = {{0, 200000}, {0, 200000}};
    setitimer(ITIMER_REAL, &tick, NULL);

    for (;;) {
        while (!got_chld && !got_hup && !got_term && !got_alrm && !got_usr1)
            sigsuspend(&waitmask);
        if (got_usr1) {
            got_usr1 = 0;
            reopen_logs();
        }
        if (got_chld) {
            got_chld = 0;
            reap();
        }
        if (got_term) {
            got_term = 0;
            begin_stop();
        }
        if (got_hup) {
            got_hup = 0;
            if (!m.stopping)
                reload();
        }
        got_alrm = 0;
        run_timers();
        if (m.stopping && m.nprocs == 0)
            break;
    }
    llg_info("stopped");
    llg_listeners_close(&m.listeners);
    llg_pool_view_free(m.view);
    llg_pool_destroy(m.pool);
    llg_conf_free(m.conf);
    free(m.procs);
    free(m.pending);
    return 0;
}
