/*
 * server/log.c: stderr logging with one write(2) per line (see log.h).
 */
#include "server/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static llg_log_level_t log_max_level = LLG_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void llg_log_init(void)
{
    const char *s = getenv("LLMGATE_LOG_LEVEL");
    if (s == NULL)
        return;
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            log_max_level = (llg_log_level_t)i;
}

bool llg_log_enabled(llg_log_level_t level)
{
    return level <= log_max_level;
}

void llg_log(llg_log_level_t level, const char *fmt, ...)
{
    if (level > log_max_level)
        return;

    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ [%s] [%d] ", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000), level_names[level], (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    /* one write per line: concurrent writers' lines never interleave */
    ssize_t r = write(STDERR_FILENO, line, len);
    (void)r;
}
