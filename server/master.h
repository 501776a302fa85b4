/*
 * server/master.h: the master process. It owns the config and the listening
 * sockets, forks the workers and supervises them; it never serves a request.
 * Signal handlers only set flags; the master waits in sigsuspend() and acts
 * outside the handlers (the nginx model):
 *   SIGHUP          reload: validate the file again; on error log every error
 *                   and keep the current config; else start new workers and
 *                   drain the old ones.
 *   SIGTERM/SIGINT  drain every worker (bounded by timeouts.drain), exit 0; a
 *                   second one stops the workers at once.
 *   SIGCHLD         reap (any child: correct as PID 1); a worker of the
 *                   current generation that died is replaced at once.
 */
#ifndef LLG_MASTER_H
#define LLG_MASTER_H

#include "conf/conf.h"

/* `config_path` is NULL for the embedded default config. Takes ownership of
 * `conf`. Returns the process exit status. */
int llg_master_run(llg_conf_t *conf, const char *config_path);

/* Loads the config the way the command line asked (file or embedded default). */
llg_conf_t *llg_master_load_config(const char *config_path, llg_conf_errors_t *errs);

#endif
