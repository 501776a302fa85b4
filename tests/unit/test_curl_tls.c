/*
 * tests/unit/test_curl_tls.c: a provider's tls: on libcurl (server/curl_tls.c):
 * the server_name rewrite of the URL, and which curl results are TLS failures
 * (refused: the same for every key; a handshake cut short; none).
 */
#include <stdlib.h>
#include <string.h>

#include "server/curl_loop.h"
#include "tests/test.h"

static llg_conf_t *load(const char *yaml)
{
    char *const env[] = {NULL};
    llg_conf_errors_t errs = {0};
    llg_conf_t *conf = llg_conf_load_string("t.yaml", yaml, strlen(yaml), env, &errs);
    for (size_t i = 0; i < errs.count; i++)
        fprintf(stderr, "%s\n", errs.items[i]);
    llg_conf_errors_free(&errs);
    return conf;
}

static const char yaml[] =
    "providers:\n"
    "  - {name: ip, type: openai, base_url: \"https://10.0.0.1:8443/v1\", keys: [k1],\n"
    "     tls: {server_name: llm.example, min_version: \"1.3\"}}\n"
    "  - {name: v6, type: openai, base_url: \"https://[::1]/v1\", keys: [k2],\n"
    "     tls: {server_name: llm.example}}\n"
    "  - {name: plain, type: openai, base_url: \"https://api.example/v1\", keys: [k3]}\n"
    "  - {name: nover, type: openai, base_url: \"https://api.example/v1\", keys: [k4], tls: {verify: false}}\n";

TEST(server_name_rewrites_the_url)
{
    llg_conf_t *conf = load(yaml);
    CHECK(conf != NULL);
    if (conf == NULL)
        return;
    struct llg_curl_tls *all = llg_curl_tls_create(conf);
    CURL *easy = curl_easy_init();
    char buf[256];
    const char *u = llg_curl_tls_apply(all, 0, easy, "https://10.0.0.1:8443/v1/chat/completions", buf, sizeof(buf));
    CHECK(strcmp(u, "https://llm.example:8443/v1/chat/completions") == 0);
    /* the default port is written out (CONNECT_TO names it) */
    u = llg_curl_tls_apply(all, 1, easy, "https://[::1]/v1/models", buf, sizeof(buf));
    CHECK(strcmp(u, "https://llm.example:443/v1/models") == 0);
    /* a URL that does not start with the base_url's authority is left alone */
    const char *other = "https://[::1]:9/v1/models";
    CHECK(llg_curl_tls_apply(all, 1, easy, other, buf, sizeof(buf)) == other);
    /* a buffer too small: the URL as it was (the name check then fails: safe) */
    const char *url = "https://10.0.0.1:8443/v1/chat/completions";
    CHECK(llg_curl_tls_apply(all, 0, easy, url, buf, 20) == url);
    /* no tls:, or tls without server_name: the same pointer */
    const char *plain = "https://api.example/v1/chat/completions";
    CHECK(llg_curl_tls_apply(all, 2, easy, plain, buf, sizeof(buf)) == plain);
    CHECK(llg_curl_tls_apply(all, 3, easy, plain, buf, sizeof(buf)) == plain);
    curl_easy_cleanup(easy);
    llg_curl_tls_destroy(all, conf->provider_count);
    llg_conf_free(conf);
}

TEST(failures)
{
    CHECK_EQ_INT(llg_curl_tls_failure(CURLE_OK, ""), LLG_TLS_NONE);
    CHECK_EQ_INT(llg_curl_tls_failure(CURLE_COULDNT_CONNECT, ""), LLG_TLS_NONE);
    CHECK_EQ_INT(llg_curl_tls_failure(CURLE_OPERATION_TIMEDOUT, ""), LLG_TLS_NONE);
    CHECK_EQ_INT(llg_curl_tls_failure(CURLE_PEER_FAILED_VERIFICATION, ""), LLG_TLS_REFUSED);
    CHECK_EQ_INT(llg_curl_tls_failure(CURLE_SSL_CACERT, NULL), LLG_TLS_REFUSED);
    CHECK_EQ_INT(llg_curl_tls_failure(CURLE_SSL_CERTPROBLEM, ""), LLG_TLS_REFUSED);
    CHECK_EQ_INT(llg_curl_tls_failure(CURLE_SSL_CONNECT_ERROR, "OpenSSL SSL_connect: Connection reset by peer"), LLG_TLS_HANDSHAKE);
    CHECK_EQ_INT(llg_curl_tls_failure(CURLE_SSL_CONNECT_ERROR, "error:0A000410:SSL routines::sslv3 alert handshake failure"),
                 LLG_TLS_HANDSHAKE);
    CHECK_EQ_INT(llg_curl_tls_failure(CURLE_SSL_CONNECT_ERROR, "error:0A000412:SSL routines::sslv3 alert bad certificate"),
                 LLG_TLS_REFUSED);
    /* no version in common (tls.min_version): the same for every key */
    CHECK_EQ_INT(llg_curl_tls_failure(CURLE_SSL_CONNECT_ERROR, "error:0A00042E:SSL routines::tlsv1 alert protocol version"),
                 LLG_TLS_REFUSED);
    const char *required = "OpenSSL SSL_read: error:0A00045C:SSL routines::tlsv13 alert certificate required, errno 0";
    CHECK_EQ_INT(llg_curl_tls_failure(CURLE_RECV_ERROR, required), LLG_TLS_REFUSED);
    CHECK_EQ_INT(llg_curl_tls_failure(CURLE_RECV_ERROR, "Connection reset by peer"), LLG_TLS_NONE);
    CHECK_EQ_INT(llg_curl_tls_failure(CURLE_SEND_ERROR, ""), LLG_TLS_NONE);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(server_name_rewrites_the_url);
    RUN(failures);
    curl_global_cleanup();
    TEST_MAIN_END();
}
