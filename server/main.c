/*
 * server/main.c: the command line (SPEC section 2).
 *   llmgate [-c FILE] [-t] [--print-default-config] [--version] [--help]
 * The config is -c FILE, else $LLMGATE_CONFIG, else ./llmgate.yaml when it
 * exists, else the embedded default.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "server/log.h"
#include "server/master.h"

extern char **environ;

static void usage(FILE *out)
{
    fprintf(out, "usage: llmgate [-c FILE] [-t] [--print-default-config] [--version] [--help]\n"
                 "\n"
                 "  -c FILE                  config file (default: $LLMGATE_CONFIG, else ./llmgate.yaml\n"
                 "                           when it exists, else the embedded default config)\n"
                 "  -t                       validate the config, print \"configuration OK\" or every error\n"
                 "                           as FILE:LINE:COLUMN: message, and exit\n"
                 "  --print-default-config   print the embedded default config as YAML and exit\n"
                 "  --version                print the version and exit\n"
                 "  --help                   print this help and exit\n"
                 "\n"
                 "Signals: SIGHUP reloads the config, SIGTERM/SIGINT drain and exit.\n");
}

int main(int argc, char **argv)
{
    const char *config_path = NULL;
    int test_only = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
            if (++i == argc) {
                fprintf(stderr, "llmgate: %s needs a file name\n", a);
                return 2;
            }
            config_path = argv[i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            config_path = a + 9;
        } else if (strcmp(a, "-t") == 0 || strcmp(a, "--test") == 0) {
            test_only = 1;
        } else if (strcmp(a, "--print-default-config") == 0) {
            char *yaml = llg_conf_default_yaml(environ);
            if (yaml == NULL) {
                fprintf(stderr, "llmgate: out of memory\n");
                return 1;
            }
            fputs(yaml, stdout);
            free(yaml);
            return 0;
        } else if (strcmp(a, "--version") == 0 || strcmp(a, "-v") == 0) {
            printf("llmgate %s\n", LLG_VERSION);
            return 0;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "llmgate: unknown argument \"%s\"\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (config_path == NULL) {
        const char *env = getenv("LLMGATE_CONFIG");
        if (env != NULL && env[0] != '\0')
            config_path = env;
        else if (access("llmgate.yaml", F_OK) == 0)
            config_path = "llmgate.yaml";
    }

    llg_log_init();
    llg_conf_errors_t errs = {0};
    llg_conf_t *conf = llg_master_load_config(config_path, &errs);
    if (conf == NULL) {
        for (size_t i = 0; i < errs.count; i++)
            fprintf(stderr, "%s\n", errs.items[i]);
        if (!test_only)
            fprintf(stderr, "llmgate: configuration has %zu error(s); not starting\n", errs.count);
        llg_conf_errors_free(&errs);
        return 1;
    }
    if (test_only) {
        printf("configuration OK\n");
        llg_conf_free(conf);
        return 0;
    }
    /* before any fork: libcurl's global state is shared by the workers' copies */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return llg_master_run(conf, config_path);
}
