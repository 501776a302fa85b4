/*
 * server/interpose.h: the libh2o function that an executable's own
 * definition of the same name stands in front of.
 *
 * server/bad_request.c, server/h1_framing.c and server/h2_reset.c define some
 * of libh2o's functions in the executable: by ELF symbol interposition they
 * take the place of libh2o's for every caller, libh2o included (it calls them
 * through its PLT). Each then calls libh2o's own copy, found here. This needs
 * libh2o as a shared library, which is how Debian ships it; with a static one
 * there is nothing to stand in front of, and the process aborts at the first
 * call rather than recurse into itself.
 */
#ifndef LLG_INTERPOSE_H
#define LLG_INTERPOSE_H

/* libh2o's `name` (dlsym RTLD_NEXT); aborts when there is none. */
void *llg_interpose_next(const char *name);

#endif
