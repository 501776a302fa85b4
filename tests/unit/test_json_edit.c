/*
 * tests/unit/test_json_edit.c: byte-level body edits keep everything they do
 * not touch exactly as it was.
 */
#include <cjson/cJSON.h>
#include <string.h>

#include "providers/json_edit.h"
#include "tests/test.h"

static void expect(const char *in, const llg_json_patch_t *p, size_t n, const char *want)
{
    llg_strbuf_t out = {0};
    int rc = llg_json_patch_object(in, strlen(in), p, n, &out);
    CHECK_EQ_INT(rc, 0);
    if (rc == 0) {
        CHECK_EQ_STR(out.data, want);
        cJSON *j = cJSON_Parse(out.data);
        CHECK(j != NULL);
        cJSON_Delete(j);
    }
    llg_strbuf_free(&out);
}

TEST(patches)
{
    llg_json_patch_t model = {"model", "\"upstream/x\""};
    expect("{\"model\":\"x\",\"seed\":12345678901234567890}", &model, 1,
           "{\"model\":\"upstream/x\",\"seed\":12345678901234567890}");
    expect("{ \"seed\" : 1.50 , \"model\" : \"x\" }", &model, 1, "{ \"seed\" : 1.50 , \"model\" : \"upstream/x\" }");
    expect("{\"messages\":[]}", &model, 1, "{\"messages\":[],\"model\":\"upstream/x\"}");
    expect("{}", &model, 1, "{\"model\":\"upstream/x\"}");
    expect("  {  }  \n", &model, 1, "  {\"model\":\"upstream/x\"  }  \n");

    llg_json_patch_t rm = {"stream_options", NULL};
    expect("{\"a\":1,\"stream_options\":{\"x\":[1,{\"y\":\"}\"}]},\"b\":2}", &rm, 1, "{\"a\":1,\"b\":2}");
    expect("{\"stream_options\":{},\"b\":2}", &rm, 1, "{\"b\":2}");
    expect("{\"b\":2,\"stream_options\":null}", &rm, 1, "{\"b\":2}");
    expect("{ \"b\" : 2 , \"stream_options\" : null , \"c\" : 3 }", &rm, 1, "{ \"b\" : 2 , \"c\" : 3 }");
    expect("{ \"stream_options\" : 1 }", &rm, 1, "{ }");
    llg_json_patch_t add = {"temperature", "0.7"};
    expect("{ \"model\" : \"x\" , \"seed\" : 7 }", &add, 1, "{ \"model\" : \"x\" , \"seed\" : 7,\"temperature\":0.7 }");

    llg_json_patch_t two[] = {{"temperature", "0.7"}, {"max_tokens", "1000"}};
    expect("{\"temperature\":0,\"messages\":[{\"content\":\"a,\\\"b}\"}]}", two, 2,
           "{\"temperature\":0.7,\"messages\":[{\"content\":\"a,\\\"b}\"}],\"max_tokens\":1000}");
}

TEST(malformed)
{
    llg_json_patch_t model = {"model", "\"m\""};
    const char *bad[] = {"", "[1]", "{\"a\"}", "{\"a\":}", "{\"a\":1", "{\"a\":[1}", "{\"a\":\"x}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        llg_strbuf_t out = {0};
        int rc = llg_json_patch_object(bad[i], strlen(bad[i]), &model, 1, &out);
        if (rc != -1) {
            fprintf(stderr, "accepted malformed body %s\n", bad[i]);
            test_current_failed_ = 1;
        }
        llg_strbuf_free(&out);
    }
}

int main(void)
{
    RUN(patches);
    RUN(malformed);
    TEST_MAIN_END();
}
