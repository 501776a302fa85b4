/*
 * conf/default.c: the embedded default config (SPEC section 4), generated as
 * YAML text for the environment at hand and then loaded like any file, so that
 * `llmgate --print-default-config` shows exactly what runs and a user can save
 * it as the start of their own file.
 *
 * Routing takes the first provider whose globs match, in this order:
 *   anthropic  claude-* (when ANTHROPIC_API_KEY is set);
 *   puter      Puter's ids (openrouter:..., togetherai:..., claude-..., ...),
 *              first so that it wins them; passthrough (the client's token);
 *   echo       echo, echo-*;
 *   openai     OpenAI's lowercase families (gpt-*, o1*, ...);
 *   deepinfra  org/Model ids; when OpenRouter is configured too, only the ids
 *              OpenRouter cannot have: OpenRouter's ids are all lowercase, so
 *              a capital letter in either half (meta-llama/Llama-3.3-70B,
 *              Qwen/Qwen3-32B) or DeepInfra-only orgs mean DeepInfra;
 *   openrouter every other org/model id;
 *   poe        Poe's bot names, which are capitalised (GPT-4o, Claude-Sonnet-4)
 *              and so collide with none of the above (globs are case-sensitive).
 * Providers whose key variable is unset or empty are left out. The text names
 * the variables (keys_env) and never holds a key.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool failed;
} sbuf_t;

static void add(sbuf_t *b, const char *s)
{
    size_t n = strlen(s);
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->failed = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

static bool env_set(llg_env_t env, const char *name)
{
    const char *v = conf_env_get(env, name);
    return v != NULL && *v != '\0';
}

static const char header[] = "# llmgate embedded default configuration.\n"
                             "#\n"
                             "# llmgate runs with this when no config file is given (no -c, no $LLMGATE_CONFIG,\n"
                             "# no ./llmgate.yaml). It is generated for the current environment: the anthropic,\n"
                             "# openai, deepinfra, openrouter and poe providers appear only when their key\n"
                             "# variable (ANTHROPIC_API_KEY, OPENAI_API_KEY, DEEPINFRA_API_KEY,\n"
                             "# OPENROUTER_API_KEY, POE_APIKEYS) is set.\n"
                             "# Keys are read from the variables named by keys_env; none is written here.\n"
                             "# Save it with `llmgate --print-default-config > llmgate.yaml` to start your own\n"
                             "# file; docs/configuration.md describes every key.\n"
                             "#\n"
                             "# A request goes to the first provider (in this order) with a matching glob.\n"
                             "\n"
                             "listen:\n"
                             "  - address: 0.0.0.0\n"
                             "    port: 8080                 # the environment variable PORT overrides it\n"
                             "\n"
                             "providers:\n";

static const char anthropic[] = "  # Anthropic's Messages API (claude-* models), before puter so that it wins\n"
                                "  # them. /v1/messages is relayed as it is; /v1/chat/completions translated.\n"
                                "  - name: anthropic\n"
                                "    type: anthropic\n"
                                "    base_url: https://api.anthropic.com\n"
                                "    keys_env: ANTHROPIC_API_KEY\n"
                                "    models: [\"claude-*\"]\n"
                                "\n";

static const char puter_echo[] = "  # Puter's driver API. auth passthrough: the client's bearer token is its\n"
                                 "  # Puter token. First, so that it wins Puter's model ids.\n"
                                 "  - name: puter\n"
                                 "    type: puter\n"
                                 "    base_url: https://api.puter.com\n"
                                 "    auth: passthrough\n"
                                 "    models: [\"openrouter:*\", \"togetherai:*\", \"claude-*\", \"gemini-*\", \"grok-*\",\n"
                                 "             \"mistral-*\", \"deepseek-chat\", \"deepseek-reasoner\"]\n"
                                 "\n"
                                 "  # A local fake model answering with the last user message, word by word.\n"
                                 "  - name: echo\n"
                                 "    type: echo\n"
                                 "    models: [echo, \"echo-*\"]\n";

static const char openai[] =
    "\n"
    "  - name: openai\n"
    "    type: openai\n"
    "    base_url: https://api.openai.com/v1\n"
    "    keys_env: OPENAI_API_KEY\n"
    "    responses_api: true\n"
    "    models: [\"gpt-*\", \"o1*\", \"o3*\", \"o4*\", \"chatgpt-*\", \"text-embedding-*\", \"dall-e-*\",\n"
    "             \"davinci-*\", \"babbage-*\", \"omni-moderation-*\"]\n";

static const char deepinfra_all[] = "\n"
                                    "  - name: deepinfra\n"
                                    "    type: openai\n"
                                    "    base_url: https://api.deepinfra.com/v1/openai\n"
                                    "    keys_env: DEEPINFRA_API_KEY\n"
                                    "    models: [\"*/*\"]\n";

static const char deepinfra_shared[] = "\n"
                                       "  # Before openrouter, with the ids OpenRouter cannot have: its ids are all\n"
                                       "  # lowercase, DeepInfra's have a capital letter (meta-llama/Llama-3.3-70B-Instruct,\n"
                                       "  # Qwen/Qwen3-32B) or an org of their own.\n"
                                       "  - name: deepinfra\n"
                                       "    type: openai\n"
                                       "    base_url: https://api.deepinfra.com/v1/openai\n"
                                       "    keys_env: DEEPINFRA_API_KEY\n"
                                       "    models: [\"*/[A-Z]*\", \"[A-Z]*/*\", \"deepseek-ai/*\", \"zai-org/*\"]\n";

static const char openrouter[] = "\n"
                                 "  - name: openrouter\n"
                                 "    type: openai\n"
                                 "    base_url: https://openrouter.ai/api/v1\n"
                                 "    keys_env: OPENROUTER_API_KEY\n"
                                 "    models: [\"*/*\"]\n";

static const char poe[] =
    "\n"
    "  # Poe's bot protocol; models are Poe bot names, which are capitalised.\n"
    "  - name: poe\n"
    "    type: poe\n"
    "    base_url: https://api.poe.com\n"
    "    keys_env: POE_APIKEYS\n"
    "    models: [\"GPT-*\", \"Claude-*\", \"Gemini-*\", \"Grok-*\", \"Llama-*\", \"DeepSeek-*\", \"Mistral-*\",\n"
    "             \"Qwen-*\", \"Qwen3*\", \"Kimi-*\", \"GLM-*\", \"FLUX-*\", \"Assistant\"]\n";

char *llg_conf_default_yaml(llg_env_t env)
{
    sbuf_t b = {0};
    add(&b, header);
    if (env_set(env, "ANTHROPIC_API_KEY"))
        add(&b, anthropic);
    add(&b, puter_echo);
    if (env_set(env, "OPENAI_API_KEY"))
        add(&b, openai);
    if (env_set(env, "DEEPINFRA_API_KEY"))
        add(&b, env_set(env, "OPENROUTER_API_KEY") ? deepinfra_shared : deepinfra_all);
    if (env_set(env, "OPENROUTER_API_KEY"))
        add(&b, openrouter);
    if (env_set(env, "POE_APIKEYS"))
        add(&b, poe);
    if (b.failed) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
