/*
 * server/ca_store.c: the system's CA certificates, parsed once per process
 * (see ca_store.h).
 */
#include "server/ca_store.h"

#include <openssl/err.h>
#include <openssl/x509_vfy.h>

static X509_STORE *system_store;

X509_STORE *llg_ca_system_store(void)
{
    if (system_store != NULL)
        return system_store;
    X509_STORE *s = X509_STORE_new();
    if (s == NULL || X509_STORE_set_default_paths(s) != 1) {
        X509_STORE_free(s);
        ERR_clear_error();
        return NULL;
    }
    system_store = s;
    return s;
}

X509_STORE *llg_ca_store_with(STACK_OF(X509) * extra)
{
    X509_STORE *sys = llg_ca_system_store();
    X509_STORE *store = sys != NULL ? X509_STORE_new() : NULL;
    if (store == NULL)
        return NULL;
    /* the default file's certificates, as the shared store loaded them */
    STACK_OF(X509) *certs = X509_STORE_get1_all_certs(sys);
    for (int i = 0; certs != NULL && i < sk_X509_num(certs); i++)
        X509_STORE_add_cert(store, sk_X509_value(certs, i));
    sk_X509_pop_free(certs, X509_free);
    /* the default directory is read certificate by certificate when a
     * chain needs one (no cost here) */
    X509_LOOKUP *dir = X509_STORE_add_lookup(store, X509_LOOKUP_hash_dir());
    if (dir == NULL || X509_LOOKUP_add_dir(dir, NULL, X509_FILETYPE_DEFAULT) != 1) {
        X509_STORE_free(store);
        ERR_clear_error();
        return NULL;
    }
    for (int i = 0; extra != NULL && i < sk_X509_num(extra); i++)
        X509_STORE_add_cert(store, sk_X509_value(extra, i)); /* a duplicate is not an error */
    ERR_clear_error();
    return store;
}
