/*
 * server/interpose.c: finds the libh2o functions that llmgate's own
 * definitions stand in front of (see interpose.h).
 */
#include "server/interpose.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

void *llg_interpose_next(const char *name)
{
    void *fn = dlsym(RTLD_NEXT, name);
    if (fn == NULL) {
        const char *why = dlerror();
        fprintf(stderr, "llmgate: %s not found in a shared libh2o (%s)\n", name, why != NULL ? why : "no such symbol");
        abort();
    }
    return fn;
}
