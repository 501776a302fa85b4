/*
 * tests/unit/test_ollama_embed.c: Ollama's embeddings endpoints over OpenAI's
 * /embeddings (providers/ollama_embed.c): /api/embed and /api/embeddings
 * requests read into OpenAI's request (what maps, what is ignored, what is
 * refused and with which field), and OpenAI's answers written in their
 * shapes: the vectors in the order of their index, every number exactly as
 * the upstream wrote it, the usage, and the answers that are refused.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/ingress.h"
#include "providers/ollama.h"
#include "tests/test.h"

/* The OpenAI request read from an Ollama body, printed; NULL when refused
 * (then `err` and `param` say why). */
static char *read_request(const char *body, int legacy, char *err, char *param)
{
    cJSON *r = legacy ? llg_ollama_parse_embeddings(body, strlen(body), err, 256, param, 64)
                      : llg_ollama_parse_embed(body, strlen(body), err, 256, param, 64);
    if (r == NULL)
        return NULL;
    char *text = cJSON_PrintUnformatted(r);
    cJSON_Delete(r);
    return text;
}

static void request_is(const char *body, int legacy, const char *want)
{
    char err[256] = "", param[64] = "";
    char *got = read_request(body, legacy, err, param);
    if (got == NULL)
        fprintf(stderr, "refused: %s (%s)\n", err, param);
    CHECK_EQ_STR(got, want);
    cJSON_free(got);
}

static void refused(const char *body, int legacy, const char *param_want, const char *err_has)
{
    char err[256] = "", param[64] = "";
    char *got = read_request(body, legacy, err, param);
    CHECK(got == NULL);
    CHECK_EQ_STR(param, param_want);
    if (strstr(err, err_has) == NULL)
        fprintf(stderr, "%s: error \"%s\" has no \"%s\"\n", body, err, err_has);
    CHECK(strstr(err, err_has) != NULL);
    cJSON_free(got);
}

TEST(embed_request)
{
    request_is("{\"model\":\"all-minilm\",\"input\":\"why is the sky blue?\"}", 0,
               "{\"model\":\"all-minilm\",\"input\":\"why is the sky blue?\"}");
    /* a list, dimensions; ":latest" dropped; truncate, options and keep_alive ignored */
    request_is("{\"model\":\"nomic:latest\",\"input\":[\"a\",\"b \\u00e9\\n\"],\"dimensions\":256,\"truncate\":false,"
               "\"options\":{\"num_ctx\":8},\"keep_alive\":\"5m\"}",
               0, "{\"model\":\"nomic\",\"input\":[\"a\",\"b \xc3\xa9\\n\"],\"dimensions\":256}");
    /* dimensions 0 or null: not set, as in Ollama */
    request_is("{\"model\":\"m\",\"input\":\"x\",\"dimensions\":0}", 0, "{\"model\":\"m\",\"input\":\"x\"}");
    request_is("{\"model\":\"m\",\"input\":\"x\",\"dimensions\":null}", 0, "{\"model\":\"m\",\"input\":\"x\"}");
    request_is("{\"model\":\"m\",\"input\":\"x\",\"dimensions\":3072.0}", 0,
               "{\"model\":\"m\",\"input\":\"x\",\"dimensions\":3072}");
}

TEST(embeddings_request)
{
    request_is("{\"model\":\"all-minilm:latest\",\"prompt\":\"hello\",\"options\":{},\"keep_alive\":0}", 1,
               "{\"model\":\"all-minilm\",\"input\":\"hello\"}");
    /* no list and no dimensions on the older endpoint */
    refused("{\"model\":\"m\",\"prompt\":[\"a\"]}", 1, "prompt", "invalid prompt type: expected a string");
    request_is("{\"model\":\"m\",\"prompt\":\"a\",\"dimensions\":-1}", 1, "{\"model\":\"m\",\"input\":\"a\"}");
    /* no prompt: Ollama's preload, no text to embed */
    request_is("{\"model\":\"m\",\"input\":\"a\"}", 1, "{\"model\":\"m\",\"input\":[]}");
    request_is("{\"model\":\"m\",\"prompt\":\"\"}", 1, "{\"model\":\"m\",\"input\":[]}");
}

TEST(embed_refusals)
{
    refused("{\"input\":\"a\"}", 0, "model", "model is required");
    refused("{\"model\":\"\",\"input\":\"a\"}", 0, "model", "model is required");
    /* no input (missing, null, "" or []): Ollama's preload, answered with no vectors */
    static const char *const preloads[] = {"{\"model\":\"m:latest\"}", "{\"model\":\"m\",\"input\":null}",
                                           "{\"model\":\"m\",\"input\":\"\"}", "{\"model\":\"m\",\"input\":[]}"};
    for (size_t i = 0; i < sizeof(preloads) / sizeof(preloads[0]); i++)
        request_is(preloads[i], 0, "{\"model\":\"m\",\"input\":[]}");
    refused("{\"model\":\"m\",\"input\":[\"a\",\"\"]}", 0, "input[1]", "input[1] is empty");
    refused("{\"model\":\"m\",\"input\":[\"a\",2]}", 0, "input[1]", "invalid input type");
    refused("{\"model\":\"m\",\"input\":[[1,2]]}", 0, "input[0]", "invalid input type");
    refused("{\"model\":\"m\",\"input\":5}", 0, "input", "invalid input type: expected a string or an array of strings");
    refused("{\"model\":\"m\",\"input\":\"a\",\"dimensions\":-3}", 0, "dimensions", "positive integer");
    refused("{\"model\":\"m\",\"input\":\"a\",\"dimensions\":1.5}", 0, "dimensions", "positive integer");
    refused("{\"model\":\"m\",\"input\":\"a\",\"dimensions\":\"8\"}", 0, "dimensions", "positive integer");
    refused("{\"model\":\"m\",\"input\":\"a\",\"dimensions\":1e300}", 0, "dimensions", "positive integer");
    /* the body checks every Ollama request has */
    char err[256], param[64];
    CHECK(read_request("", 0, err, param) == NULL && err[0] != '\0');
    CHECK(read_request("[1]", 0, err, param) == NULL && err[0] != '\0');
    CHECK(read_request("{\"model\":\"m\",\"input\":\"a\"} x", 0, err, param) == NULL && err[0] != '\0');
}

/* ---- answers ------------------------------------------------------------ */

static void answer_is(const char *body, int legacy, const char *model, const char *want)
{
    llg_strbuf_t out = {0};
    char err[256] = "";
    int rc =
        (legacy ? llg_ollama_embeddings_answer : llg_ollama_embed_answer)(body, strlen(body), model, 1234, &out, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "refused: %s\n", err);
    CHECK_EQ_INT(rc, 0);
    llg_strbuf_append(&out, "", 1);
    CHECK_EQ_STR(out.data, want);
    cJSON *j = cJSON_Parse(out.data);
    CHECK(cJSON_IsObject(j));
    cJSON_Delete(j);
    llg_strbuf_free(&out);
}

static void answer_refused(const char *body, int legacy, const char *err_has)
{
    llg_strbuf_t out = {0};
    char err[256] = "";
    int rc = (legacy ? llg_ollama_embeddings_answer : llg_ollama_embed_answer)(body, strlen(body), "m", 0, &out, err, sizeof(err));
    CHECK_EQ_INT(rc, -1);
    CHECK_EQ_INT(out.len, 0);
    if (strstr(err, err_has) == NULL)
        fprintf(stderr, "%s: error \"%s\" has no \"%s\"\n", body, err, err_has);
    CHECK(strstr(err, err_has) != NULL);
    static const char prefix[] = "The upstream provider's embeddings answer could not be read: ";
    CHECK(strncmp(err, prefix, sizeof(prefix) - 1) == 0);
    llg_strbuf_free(&out);
}

/* OpenAI's answer, as its API writes it */
static const char openai_answer[] =
    "{\n  \"object\": \"list\",\n  \"data\": [\n    {\n      \"object\": \"embedding\",\n      \"index\": 0,\n"
    "      \"embedding\": [\n        -0.006929283495992422,\n        -0.005336422007530928,\n        1e-7,\n"
    "        0.024047505110502243\n      ]\n    }\n  ],\n  \"model\": \"text-embedding-3-small\",\n"
    "  \"usage\": {\n    \"prompt_tokens\": 5,\n    \"total_tokens\": 5\n  }\n}\n";

TEST(preload)
{
    char err[256], param[64];
    static const char preload[] = "{\"model\":\"nomic:latest\",\"input\":[]}", text[] = "{\"model\":\"nomic\",\"input\":\"a\"}";
    cJSON *r = llg_ollama_parse_embed(preload, sizeof(preload) - 1, err, sizeof(err), param, sizeof(param));
    CHECK(r != NULL && llg_ollama_embed_is_preload(r));
    cJSON_Delete(r);
    r = llg_ollama_parse_embed(text, sizeof(text) - 1, err, sizeof(err), param, sizeof(param));
    CHECK(r != NULL && !llg_ollama_embed_is_preload(r));
    cJSON_Delete(r);
    llg_strbuf_t out = {0};
    llg_ollama_embed_preload("nomic", false, &out);
    CHECK_EQ_STR(out.data,
                 "{\"model\":\"nomic\",\"embeddings\":[],\"total_duration\":0,\"load_duration\":0,\"prompt_eval_count\":0}");
    llg_strbuf_reset(&out);
    llg_ollama_embed_preload("nomic", true, &out);
    CHECK_EQ_STR(out.data, "{\"embedding\":[]}");
    llg_strbuf_free(&out);
}

TEST(embed_answer)
{
    /* every number as written: digits past a double's 17, exponents, -0 */
    answer_is(openai_answer, 0, "all-minilm",
              "{\"model\":\"all-minilm\",\"embeddings\":[[-0.006929283495992422,-0.005336422007530928,1e-7,"
              "0.024047505110502243]],\"total_duration\":1234,\"load_duration\":0,\"prompt_eval_count\":5}");
    answer_is("{\"data\":[{\"embedding\":[0.12345678901234567890123,-0,-0.0,1E+2,2.5e-308,-1.7976931348623157e308]}]}", 0, "m",
              "{\"model\":\"m\",\"embeddings\":[[0.12345678901234567890123,-0,-0.0,1E+2,2.5e-308,-1.7976931348623157e308]],"
              "\"total_duration\":1234,\"load_duration\":0,\"prompt_eval_count\":0}");
    /* the vectors in the order of their index, whatever the upstream's */
    answer_is("{\"data\":[{\"index\":2,\"embedding\":[3]},{\"embedding\":[1],\"index\":0},{\"index\":1,\"embedding\":[2]}],"
              "\"usage\":{\"prompt_tokens\":9}}",
              0, "m",
              "{\"model\":\"m\",\"embeddings\":[[1],[2],[3]],\"total_duration\":1234,\"load_duration\":0,\"prompt_eval_count\":9}");
    /* no index: the place in data; no vectors, an empty vector */
    answer_is("{\"data\":[{\"embedding\":[1]},{\"embedding\":[]}]}", 0, "m",
              "{\"model\":\"m\",\"embeddings\":[[1],[]],\"total_duration\":1234,\"load_duration\":0,\"prompt_eval_count\":0}");
    answer_is("{\"data\":[]}", 0, "m",
              "{\"model\":\"m\",\"embeddings\":[],\"total_duration\":1234,\"load_duration\":0,\"prompt_eval_count\":0}");
    /* the model is written as a JSON string */
    answer_is("{\"data\":[]}", 0, "a\"b\\c",
              "{\"model\":\"a\\\"b\\\\c\",\"embeddings\":[],\"total_duration\":1234,\"load_duration\":0,\"prompt_eval_count\":0}");
}

TEST(embeddings_answer)
{
    answer_is(openai_answer, 1, "m", "{\"embedding\":[-0.006929283495992422,-0.005336422007530928,1e-7,0.024047505110502243]}");
    answer_refused("{\"data\":[]}", 1, "it holds 0 vectors, not one");
    answer_refused("{\"data\":[{\"embedding\":[1]},{\"embedding\":[2]}]}", 1, "it holds 2 vectors, not one");
}

TEST(answer_refusals)
{
    answer_refused("", 0, "no JSON object with a \"data\" member");
    answer_refused("{\"object\":\"list\"}", 0, "no JSON object with a \"data\" member");
    answer_refused("{\"data\":[{\"embedding\":[1]}]", 0, "no JSON object");
    answer_refused("{\"data\":{\"embedding\":[1]}}", 0, "\"data\" is no array");
    answer_refused("{\"data\":[{\"embedding\":[1]},]}", 0, "\"data\" is no array");
    /* base64 vectors (encoding_format), and numbers JSON has not */
    answer_refused("{\"data\":[{\"embedding\":\"AACAPw==\"}]}", 0, "data[0].embedding is no array of numbers");
    answer_refused("{\"data\":[{\"index\":0}]}", 0, "data[0].embedding is no array of numbers");
    static const char *const bad[] = {"NaN",  "Infinity", "-Infinity", "+1",  "01",  ".5", "1.", "1e",
                                      "0x10", "\"1\"",    "null",      "[1]", "1 2", "-",  "1e+"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char body[128];
        snprintf(body, sizeof(body), "{\"data\":[{\"embedding\":[0.5,%s]}]}", bad[i]);
        answer_refused(body, 0, "data[0].embedding is no array of numbers");
    }
    /* indexes: out of range, twice, not a count */
    answer_refused("{\"data\":[{\"index\":1,\"embedding\":[1]}]}", 0, "are not 0 to 0, each once");
    answer_refused("{\"data\":[{\"index\":0,\"embedding\":[1]},{\"index\":0,\"embedding\":[2]}]}", 0, "are not 0 to 1, each once");
    answer_refused("{\"data\":[{\"index\":-1,\"embedding\":[1]}]}", 0, "each once");
    answer_refused("{\"data\":[{\"index\":\"0\",\"embedding\":[1]}]}", 0, "each once");
    answer_refused("{\"data\":[{\"index\":0.0,\"embedding\":[1]}]}", 0, "each once");
}

/* A large batch: many vectors of many numbers, copied exactly. */
TEST(large_answer)
{
    llg_strbuf_t in = {0}, want = {0}, out = {0};
    llg_strbuf_appends(&in, "{\"object\":\"list\",\"data\":[");
    llg_strbuf_appends(&want, "{\"model\":\"big\",\"embeddings\":[");
    for (int v = 0; v < 300; v++) {
        llg_strbuf_appendf(&in, "%s{\"object\":\"embedding\",\"index\":%d,\"embedding\":[", v ? ", " : "", 299 - v);
        for (int d = 0; d < 512; d++)
            llg_strbuf_appendf(&in, "%s-0.%09d%d", d ? ", " : "", v * 7919 + d * 104729, d % 10);
        llg_strbuf_appends(&in, "]}");
    }
    for (int v = 299; v >= 0; v--) {
        llg_strbuf_appends(&want, v < 299 ? ",[" : "[");
        for (int d = 0; d < 512; d++)
            llg_strbuf_appendf(&want, "%s-0.%09d%d", d ? "," : "", v * 7919 + d * 104729, d % 10);
        llg_strbuf_appends(&want, "]");
    }
    llg_strbuf_appends(&in, "],\"usage\":{\"prompt_tokens\":1200,\"total_tokens\":1200}}");
    llg_strbuf_appends(&want, "],\"total_duration\":7,\"load_duration\":0,\"prompt_eval_count\":1200}");
    char err[256];
    CHECK_EQ_INT(llg_ollama_embed_answer(in.data, in.len, "big", 7, &out, err, sizeof(err)), 0);
    CHECK(out.len == want.len && memcmp(out.data, want.data, want.len) == 0);
    llg_strbuf_free(&in);
    llg_strbuf_free(&want);
    llg_strbuf_free(&out);
}

/* The ingress table: /api/embed and /api/embeddings read and answer with
 * these, and write Ollama's errors. */
TEST(ingress)
{
    CHECK(llg_ingress_ollama_embed.protocol == LLG_PROTOCOL_OLLAMA);
    CHECK(llg_ingress_ollama_embed.parse == llg_ollama_parse_embed);
    CHECK(llg_ingress_ollama_embed.whole_answer == llg_ollama_embed_answer);
    CHECK(llg_ingress_ollama_embeddings.parse == llg_ollama_parse_embeddings);
    CHECK(llg_ingress_ollama_embeddings.whole_answer == llg_ollama_embeddings_answer);
    CHECK(llg_ingress_ollama_chat.whole_answer == NULL && llg_ingress_openai.whole_answer == NULL);
    llg_strbuf_t b = {0};
    llg_ingress_ollama_embed.render->error_body(&b, 400, "invalid_request_error", NULL, "input", "input is required");
    llg_strbuf_append(&b, "", 1);
    CHECK_EQ_STR(b.data, "{\"error\":\"input is required\"}");
    llg_strbuf_free(&b);
}

int main(void)
{
    RUN(embed_request);
    RUN(embeddings_request);
    RUN(embed_refusals);
    RUN(preload);
    RUN(embed_answer);
    RUN(embeddings_answer);
    RUN(answer_refusals);
    RUN(large_answer);
    RUN(ingress);
    TEST_MAIN_END();
}
