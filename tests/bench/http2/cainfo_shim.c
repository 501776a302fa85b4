/*
 * tests/bench/http2/cainfo_shim.c: benchmark-only LD_PRELOAD shim for
 * tests/bench/http2/run.sh. llmgate has no option for a private CA and its
 * libcurl (Debian 7.88, OpenSSL) ignores SSL_CERT_FILE, SSL_CERT_DIR and
 * CURL_CA_BUNDLE: the compiled-in CURLOPT_CAINFO/CAPATH
 * (/etc/ssl/certs/ca-certificates.crt, /etc/ssl/certs) always win. To let the
 * gateway verify the benchmark's self-signed h2o certificate without touching
 * the system trust store or llmgate's code, this wraps curl_multi_add_handle()
 * and sets CURLOPT_CAINFO to $LLG_BENCH_CAINFO on each transfer before it is
 * added. Peer and host verification stay on. Not for production use.
 *
 *   cc -O2 -shared -fPIC -o cainfo_shim.so cainfo_shim.c -ldl
 *   LD_PRELOAD=./cainfo_shim.so LLG_BENCH_CAINFO=cert.pem build/llmgate -c ...
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <dlfcn.h>
#include <stdlib.h>

CURLMcode curl_multi_add_handle(CURLM *multi, CURL *easy)
{
    static CURLMcode (*real)(CURLM *, CURL *);
    if (real == NULL)
        real = (CURLMcode(*)(CURLM *, CURL *))dlsym(RTLD_NEXT, "curl_multi_add_handle");
    if (real == NULL)
        return CURLM_INTERNAL_ERROR;
    const char *ca = getenv("LLG_BENCH_CAINFO");
    if (ca != NULL && *ca != '\0')
        curl_easy_setopt(easy, CURLOPT_CAINFO, ca);
    return real(multi, easy);
}
