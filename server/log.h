/*
 * server/log.h: the one logging facility. Lines go to stderr (the container
 * convention), one write(2) per line so lines from the master and workers never
 * interleave, each prefixed with a UTC timestamp, the level and the pid.
 * Callers never pass a secret: tokens and keys are logged by name or id only.
 */
#ifndef LLG_LOG_H
#define LLG_LOG_H

#include <stdbool.h>

typedef enum llg_log_level {
    LLG_LOG_ERROR,
    LLG_LOG_WARN,
    LLG_LOG_INFO,
    LLG_LOG_DEBUG,
} llg_log_level_t;

/* Set once at start-up from $LLMGATE_LOG_LEVEL (error, warn, info, debug); default info. */
void llg_log_init(void);

void llg_log(llg_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Whether lines of `level` are written: a caller skips preparing one that would not be. */
bool llg_log_enabled(llg_log_level_t level);

#define llg_error(...) llg_log(LLG_LOG_ERROR, __VA_ARGS__)
#define llg_warn(...)  llg_log(LLG_LOG_WARN, __VA_ARGS__)
#define llg_info(...)  llg_log(LLG_LOG_INFO, __VA_ARGS__)
#define llg_debug(...) llg_log(LLG_LOG_DEBUG, __VA_ARGS__)

#endif
