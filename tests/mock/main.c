/*
 * tests/mock/main.c: the command line of llmgate-mock, the fake upstream of
 * llmgate's tests and benchmarks (docs/mock.md):
 *   llmgate-mock --port N [--address 127.0.0.1] [--record FILE]
 *                [--no-record] [--record-max LINES]
 * It binds (port 0 picks a free port), prints `mock listening on ADDR:PORT`
 * to stderr once it accepts connections, and serves until SIGINT or SIGTERM.
 */
#include "mock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop_sig, stop_pid;

static void on_signal(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    stop_sig = sig;
    stop_pid = si ? si->si_pid : 0;
    mock_loop_stop();
}

static void usage(FILE *f)
{
    fputs("usage: llmgate-mock --port N [--address 127.0.0.1] [--record FILE] [--no-record] [--record-max LINES]\n"
          "A fake upstream LLM provider for llmgate's tests and benchmarks; see docs/mock.md.\n",
          f);
}

static int listen_on(const char *addr, const char *port)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *res;
    int rc = getaddrinfo(addr, port, &hints, &res);
    if (rc != 0) {
        fprintf(stderr, "llmgate-mock: %s:%s: %s\n", addr, port, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("socket");
        freeaddrinfo(res);
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 4096) < 0) {
        fprintf(stderr, "llmgate-mock: %s:%s: %s\n", addr, port, strerror(errno));
        freeaddrinfo(res);
        close(fd);
        return -1;
    }
    freeaddrinfo(res);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    char host[INET6_ADDRSTRLEN] = "?";
    int p = 0;
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
        p = ntohs(s6->sin6_port);
        fprintf(stderr, "mock listening on [%s]:%d\n", host, p);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
        p = ntohs(s4->sin_port);
        fprintf(stderr, "mock listening on %s:%d\n", host, p);
    }
    fflush(stderr);
    return fd;
}

int main(int argc, char **argv)
{
    const char *port = NULL, *addr = "127.0.0.1", *record = NULL;
    size_t max_lines = 10000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--no-record") == 0) {
            mock_record_on = false;
            continue;
        } else if (v == NULL) {
            usage(stderr);
            return 2;
        } else if (strcmp(a, "--port") == 0 || strcmp(a, "-p") == 0) {
            port = v;
        } else if (strcmp(a, "--address") == 0 || strcmp(a, "-a") == 0) {
            addr = v;
        } else if (strcmp(a, "--record") == 0) {
            record = v;
        } else if (strcmp(a, "--record-max") == 0) {
            max_lines = (size_t)strtoul(v, NULL, 10);
        } else {
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (port == NULL) {
        usage(stderr);
        return 2;
    }
    if (record != NULL) {
        if (mock_record_open(record) < 0)
            return 1;
        mock_record_on = true;
    }
    mock_record_config(max_lines, 64u << 20);

    /* thousands of connections: raise the descriptor limit to the hard one */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = NULL;
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    int fd = listen_on(addr, port);
    if (fd < 0)
        return 1;
    int rc = mock_loop_run(fd);
    if (stop_sig != 0)
        fprintf(stderr, "llmgate-mock: stopped by %s from pid %d\n", strsignal(stop_sig), (int)stop_pid);
    return rc;
}
