/*
 * conf/tls.c: a provider's `tls:` section (docs/configuration.md,
 * docs/upstream-client.md): the CA to trust, a client certificate, the name
 * to present and verify, the lowest TLS version, and whether to verify at all.
 * Files are checked for reading here, so `-t` finds a wrong path; their
 * contents are read by the upstream clients when they build their TLS
 * contexts.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum { T_CA_FILE, T_CA, T_CLIENT_CERTIFICATE, T_CLIENT_KEY, T_SERVER_NAME, T_MIN_VERSION, T_VERIFY, T_COUNT };

static const char *const tls_keys[T_COUNT] = {"ca_file",     "ca",    "client_certificate", "client_key", "server_name",
                                              "min_version", "verify"};
static const char *const ca_names[] = {"add", "replace"};
static const char *const version_names[] = {"1.2", "1.3"};
static const char *const bool_names[] = {"false", "true"};

/* A readable file's path into *out. */
static void get_file(conf_ctx_t *c, yaml_node_t *n, const char *path, char **out)
{
    if (n == NULL || !conf_get_string(c, n, path, CONF_STR_NONEMPTY | CONF_STR_NOCTRL, out))
        return;
    if (access(*out, R_OK) != 0) {
        conf_error_node(c, n, "%s: cannot read \"%.200s\"", path, *out);
        *out = NULL;
    }
}

/* A host name: letters, digits, '-' and '.', as SNI carries it. */
static bool valid_server_name(const char *s)
{
    if (*s == '\0' || strlen(s) > 253)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '.'))
            return false;
    return true;
}

void conf_parse_tls(conf_ctx_t *c, yaml_node_t *n, const char *provider_path, llg_conf_tls_t *t)
{
    char path[96], sub[160];
    snprintf(path, sizeof(path), "%s.tls", provider_path);
    yaml_node_t *v[T_COUNT], *k[T_COUNT];
    t->verify = true;
    if (!conf_map(c, n, path, tls_keys, T_COUNT, v, k))
        return;
    t->set = true;
#define SUB(key) (snprintf(sub, sizeof(sub), "%s.%s", path, key), sub)
    get_file(c, v[T_CA_FILE], SUB("ca_file"), &t->ca_file);
    int e;
    if (v[T_CA] != NULL && v[T_CA_FILE] == NULL)
        conf_error_node(c, k[T_CA], "%s: needs ca_file (the CA to add to or to replace the system's)", SUB("ca"));
    else if (conf_get_enum(c, v[T_CA], SUB("ca"), ca_names, CONF_COUNTOF(ca_names), &e))
        t->ca_replace = e == 1;
    get_file(c, v[T_CLIENT_CERTIFICATE], SUB("client_certificate"), &t->client_certificate);
    get_file(c, v[T_CLIENT_KEY], SUB("client_key"), &t->client_key);
    if ((v[T_CLIENT_CERTIFICATE] == NULL) != (v[T_CLIENT_KEY] == NULL))
        conf_error_node(c, n, "%s: client_certificate and client_key go together (mutual TLS)", path);
    if (v[T_SERVER_NAME] != NULL &&
        conf_get_string(c, v[T_SERVER_NAME], SUB("server_name"), CONF_STR_NONEMPTY | CONF_STR_NOCTRL, &t->server_name) &&
        !valid_server_name(t->server_name)) {
        conf_error_node(c, v[T_SERVER_NAME], "%s: \"%.100s\" is not a host name", sub, t->server_name);
        t->server_name = NULL;
    }
    if (conf_get_enum(c, v[T_MIN_VERSION], SUB("min_version"), version_names, CONF_COUNTOF(version_names), &e))
        t->min_version = e == 0 ? 12 : 13;
    if (conf_get_enum(c, v[T_VERIFY], SUB("verify"), bool_names, CONF_COUNTOF(bool_names), &e))
        t->verify = e == 1;
    if (!t->verify && (v[T_CA_FILE] != NULL || v[T_SERVER_NAME] != NULL))
        conf_error_node(c, k[T_VERIFY], "%s: verify: false ignores ca_file and server_name's check; leave them out", path);
#undef SUB
}
