#!/usr/bin/env bash
# tests/mock/selftest.sh: checks llmgate-mock itself with curl: every wire
# format against the shape of shared/fixtures, every fault once, the record.
#   bash tests/mock/selftest.sh build/tests/mock/llmgate-mock [FIXTURES_DIR]
# Ends with `N passed, N failed`; exits non-zero when anything failed.
set -uo pipefail
MOCK=${1:?usage: selftest.sh path/to/llmgate-mock [fixtures dir]}
HERE=$(cd "$(dirname "$0")" && pwd)
FIX=${2:-${FIXTURES:-}}
if [ -z "$FIX" ]; then
    for d in "$HERE/../../../shared/fixtures" "$HERE/../../shared/fixtures" /work/shared/fixtures; do
        [ -d "$d" ] && FIX=$d && break
    done
fi
T=$(mktemp -d)
REC=$T/record.jsonl
"$MOCK" --port 0 --record "$REC" 2>"$T/mock.err" &
MOCK_PID=$!
trap 'kill $MOCK_PID 2>/dev/null; rm -rf "$T"' EXIT
for _ in $(seq 100); do
    grep -q 'mock listening on' "$T/mock.err" 2>/dev/null && break
    sleep 0.02
done
PORT=$(sed -n 's/^mock listening on .*:\([0-9][0-9]*\)$/\1/p' "$T/mock.err")
if [ -z "$PORT" ]; then
    cat "$T/mock.err"
    echo "0 passed, 1 failed"
    exit 1
fi
U=http://127.0.0.1:$PORT
pass=0
fail=0

ok() {
    pass=$((pass + 1))
    echo "ok - $1"
}
no() {
    fail=$((fail + 1))
    echo "FAIL - $1${2:+ ($2)}"
}
# check NAME COMMAND...: passes when the command succeeds
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else no "$name"; fi
}
eq() { [ "$1" = "$2" ] || { echo "   expected [$2]" >&2; echo "   got      [$1]" >&2; return 1; }; }
has() { grep -qF -- "$2" "$1"; }
# the shape of SSE/NDJSON output: values replaced, distinct lines sorted
shape() {
    tr -d '\r' <"$1" | sed -E 's/"id":"[^"]*"/"id":I/g; s/"created":[0-9]+/"created":T/g; s/"model":"[^"]*"/"model":M/g;
        s/"(content|text|reasoning|thinking|signature|partial_json)": ?"([^"\\]|\\.)*"/"\1":C/g;
        s/"(prompt|completion|total|input|output)_tokens":[0-9]+/"\1_tokens":N/g;
        s/"(cost|estimated_cost)":[0-9.e-]+/"\1":N/g' | sort -u
}
same_shape() { diff <(shape "$1") <(shape "$2") >&2; }
# the event names of an SSE body, on one line
events_of() { grep -o '^event: [a-z_.]*' "$1" | sed 's/^event: //' | tr '\n' ' '; }
# the text of an Anthropic stream, joined
text_of() { grep -o '"text_delta","text":"[^"]*"' "$1" | sed -E 's/.*"text":"([^"]*)"/\1/' | tr -d '\n'; }
# the content of an OpenAI-shaped stream, joined
content_of() { grep -o '"delta":{[^}]*"content":"[^"]*"' "$1" | sed -E 's/.*"content":"([^"]*)"/\1/' | tr -d '\n'; }
post() { # post PATH BODY [curl args...]: body to $T/out, status printed
    local p=$1 b=$2
    shift 2
    curl -s -o "$T/out" -D "$T/hdr" -w '%{http_code}' "$@" -H 'content-type: application/json' --data-binary "$b" "$U$p"
}
CHAT='{"model":"gpt-4o-mini","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"}],"stream":true,"stream_options":{"include_usage":true}}'
PLAIN='{"model":"m","messages":[{"role":"user","content":"Hello world"}]}'
SCHAT='{"model":"m","stream":true,"messages":[{"role":"user","content":"Hello world"}]}'

# ---- basics
check "health" eq "$(curl -s $U/health)" '{"status":"ok"}'
check "static small" eq "$(curl -s $U/static/100 | wc -c)" 100
check "static large" eq "$(curl -s $U/static/1000000 | wc -c)" 1000000
check "static pipelined 50 on one connection" eq "$(curl -s $(for i in $(seq 50); do echo $U/static/10; done) | wc -c)" 500

# ---- OpenAI
check "openai stream status" eq "$(post /v1/chat/completions "$CHAT")" 200
check "openai stream shape = fixture" same_shape "$T/out" "$FIX/openai/chat-stream.sse"
check "openai stream content" eq "$(content_of $T/out)" "mock: Hi"
check "openai stream 8 chunks + role + finish + usage + DONE" eq "$(grep -c '^data: ' $T/out)" 12
check "openai stream headers" has "$T/hdr" "text/event-stream"
check "openai stream x-ratelimit and set-cookie" bash -c "grep -qi '^x-ratelimit-limit-requests' $T/hdr && grep -qi '^set-cookie' $T/hdr"
post /v1/chat/completions "$SCHAT" >/dev/null
check "openai stream without include_usage has no usage" bash -c "! grep -q usage $T/out"
check "openai non-stream status" eq "$(post /v1/chat/completions "$PLAIN")" 200
check "openai non-stream shape = fixture" same_shape "$T/out" "$FIX/openai/chat-nonstream.json"
check "openai non-stream content" has "$T/out" '"content":"mock: Hello world"'
post /s/chunks=3,chunk_size=5/v1/chat/completions "$SCHAT" >/dev/null
check "chunk_size filler" eq "$(content_of $T/out)" "The quick brown"
post /s/usage=1/v1/chat/completions "$SCHAT" >/dev/null
check "usage=1 forces the usage chunk" has "$T/out" '"choices":[],"usage":{'
post /s/finish=length,chunks=2/v1/chat/completions "$SCHAT" >/dev/null
check "finish=length" has "$T/out" '"finish_reason":"length"'
post /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"part one"},{"type":"text","text":" two"}]}]}' >/dev/null
check "content parts" has "$T/out" '"content":"mock: part one two"'
post /v1/chat/completions '{"model":"m","messages":[{"role":"user","content":"héllo wörld ✓"}],"stream":true,"mock":{"chunks":20}}' >/dev/null
check "utf-8 kept whole across chunks" eq "$(content_of $T/out)" "mock: héllo wörld ✓"

# ---- OpenRouter, DeepInfra, Poe's OpenAI API
post /s/format=openrouter/v1/chat/completions "$SCHAT" >/dev/null
check "openrouter stream shape = fixture" same_shape "$T/out" "$FIX/openrouter/chat-stream.sse"
post /api/v1/chat/completions "$SCHAT" >/dev/null
check "/api/v1 prefix selects openrouter" has "$T/out" ': OPENROUTER PROCESSING'
post /v1/openai/chat/completions "$SCHAT" >/dev/null
check "deepinfra stream shape = fixture (/v1/openai prefix)" same_shape "$T/out" "$FIX/deepinfra/chat-stream.sse"
check "openrouter models = fixture" eq "$(curl -s $U/s/format=openrouter/v1/models)" "$(tr -d '\n' <"$FIX/openrouter/models.json")"
check "poe models = fixture" eq "$(curl -s -H 'x-mock-format: poe' $U/v1/models)" "$(tr -d '\n' <"$FIX/poe/models-openai-api.json")"
check "deepinfra models list" eq "$(curl -s $U/v1/openai/models | grep -o '"id"' | wc -l)" "$(grep -vc '^#' "$FIX/deepinfra/models.txt")"
check "openai models shape" has <(curl -s $U/v1/models) '"object":"model","created":1715367049,"owned_by":"system"'
check "models= override" eq "$(curl -s "$U/s/models=a|b/v1/models" | grep -o '"id":"[ab]"' | tr -d '\n')" '"id":"a""id":"b"'

# ---- faults: HTTP errors
check "429 status" eq "$(post /s/fault=429,retry_after=2/v1/chat/completions "$PLAIN")" 429
check "429 retry-after" has "$T/hdr" "retry-after: 2"
check "429 body = fixture" eq "$(cat $T/out)" "$(tail -n 1 "$FIX/openai/error-429-headers.txt")"
post /s/fault=429,retry_after_ms=1500,reset_requests=1m30s/v1/chat/completions "$PLAIN" >/dev/null
check "429 retry-after-ms and x-ratelimit-reset-requests" bash -c "grep -q 'retry-after-ms: 1500' $T/hdr && grep -q 'x-ratelimit-reset-requests: 1m30s' $T/hdr && ! grep -q '^retry-after:' $T/hdr"
post /s/fault=429,retry_after_date=30/v1/chat/completions "$PLAIN" >/dev/null
check "429 retry-after as HTTP date" grep -qE '^retry-after: [A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} GMT' "$T/hdr"
post /s/fault=429/v1/chat/completions "$PLAIN" >/dev/null
check "429 without hints has no retry headers" bash -c "! grep -qiE '^(retry-after|x-ratelimit-reset-requests)' $T/hdr"
check "key sk-x-fail401 gets 401" eq "$(post /v1/chat/completions "$PLAIN" -H 'Authorization: Bearer sk-test1234-fail401')" 401
check "401 body is OpenAI's invalid_api_key" has "$T/out" '"code":"invalid_api_key"'
check "key name=value segments" eq "$(post /v1/chat/completions "$PLAIN" -H 'Authorization: Bearer sk-a-fail429-retry_after=9')" 429
check "key retry_after applied" has "$T/hdr" "retry-after: 9"
check "openrouter 402 body = fixture" eq "$(post /s/format=openrouter,fault=402/v1/chat/completions "$PLAIN"; cat $T/out)" "402$(tr -d '\n' <"$FIX/openrouter/error-402.json")"
check "deepinfra 429 body = fixture" eq "$(post /s/fault=429/v1/openai/chat/completions "$PLAIN"; cat $T/out)" "429$(tr -d '\n' <"$FIX/deepinfra/error-429.json")"
check "moderation: OpenRouter's 403 with metadata.reasons" eq "$(post /s/fault=moderation/v1/chat/completions "$PLAIN"; grep -o '"reasons":\["harassment"\]' $T/out)" '403"reasons":["harassment"]'
check "insufficient_quota" eq "$(post /s/fault=insufficient_quota/v1/chat/completions "$PLAIN"; grep -o '"code":"insufficient_quota"' $T/out)" '429"code":"insufficient_quota"'
for s in 400 403 404 422 500 503; do
    check "fault=$s" eq "$(post /s/fault=$s/v1/chat/completions "$SCHAT")" $s
done
check "502 is an HTML page" eq "$(post /s/fault=502/v1/chat/completions "$PLAIN"; grep -c '502 Bad Gateway' $T/out)" "5022"
check "message= overrides" eq "$(post '/s/fault=400,message=bad%20thing/v1/chat/completions' "$PLAIN"; grep -o '"message":"bad thing"' $T/out)" '400"message":"bad thing"'
check "body mock field" eq "$(post /v1/chat/completions '{"model":"m","messages":[],"mock":{"fault":"503"}}')" 503
check "model ~suffix" eq "$(post /v1/chat/completions '{"model":"gpt~fault=404","messages":[]}')" 404
check "x-mock header" eq "$(post /v1/chat/completions "$PLAIN" -H 'x-mock: fault=403')" 403
check "times=1: first faulted" eq "$(post /s/fault=500,times=1/v1/chat/completions "$PLAIN" -H 'Authorization: Bearer sk-times')" 500
check "times=1: then healthy" eq "$(post /s/fault=500,times=1/v1/chat/completions "$PLAIN" -H 'Authorization: Bearer sk-times')" 200
check "unknown option is a 400" eq "$(post /s/fualt=500/v1/chat/completions "$PLAIN"; grep -o mock_error $T/out)" "400mock_error"
check "bad JSON is a 400" eq "$(post /v1/chat/completions '{"model":')" 400
check "unknown path is a 404" eq "$(post /v1/nothing '{}')" 404
check "wrong method is a 405" eq "$(curl -s -o /dev/null -w '%{http_code}' $U/v1/chat/completions)" 405

# ---- faults: transport
curl -sN -o "$T/out" -H 'content-type: application/json' -d "$SCHAT" "$U/s/fault=reset_midstream,after=3,chunks=50/v1/chat/completions"
check "reset_midstream: curl error 56" eq "$?" 56
check "reset_midstream: 3 chunks first" eq "$(content_of $T/out)" "moc"
post /s/fault=error_midstream,after=2/v1/chat/completions "$SCHAT" >/dev/null
check "error_midstream (openai)" eq "$(tail -n 2 $T/out | head -n 1)" 'data: {"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}'
post /s/fault=error_midstream,after=1,format=openrouter/v1/chat/completions "$SCHAT" >/dev/null
check "error_midstream (openrouter) shape = fixture" same_shape <(grep '"error"' $T/out) <(grep '"error"' "$FIX/openrouter/midstream-error.sse")
post /s/fault=truncate,after=2,chunks=50/v1/chat/completions "$SCHAT" >/dev/null
check "truncate: clean end" eq "$?" 0
check "truncate: no finish, no [DONE]" eq "$(content_of $T/out) $(grep -c 'DONE\|finish_reason":"stop' $T/out)" "mo 0"
curl -s -o /dev/null -m 1 "$U/s/fault=hang/v1/models"
check "hang: curl times out (28)" eq "$?" 28
# a ceiling that ends the hang, long enough for the two chunks on a busy machine
curl -sN -o "$T/out" -m 5 -H 'content-type: application/json' -d "$SCHAT" "$U/s/fault=hang_midstream,after=2,chunks=50/v1/chat/completions"
check "hang_midstream: curl times out (28)" eq "$?" 28
check "hang_midstream: 2 chunks first" eq "$(content_of $T/out)" "mo"
curl -s -o /dev/null "$U/s/fault=close_before_headers/v1/models"
check "close_before_headers: empty reply (52)" eq "$?" 52
curl -s -o /dev/null "$U/s/fault=reset_before_headers/v1/models"
check "reset_before_headers: reset (56)" eq "$?" 56
post /s/fault=reset_midstream/v1/chat/completions "$PLAIN" >/dev/null
check "reset_midstream on a non-stream body: curl error 56" eq "$?" 56

# ---- pacing and framing
# Pauses are checked from below only: a pause cannot end early, but a busy
# machine may stretch it without anything being wrong.
t=$(curl -s -o /dev/null -w '%{time_starttransfer}' "$U/s/latency=300/v1/models")
check "latency=300" awk -v t="$t" 'BEGIN { exit !(t >= 0.3) }'
t=$(curl -sN -o /dev/null -w '%{time_total}' -d "$SCHAT" "$U/s/interval=100,chunks=4/v1/chat/completions")
check "interval=100 with 4 chunks" awk -v t="$t" 'BEGIN { exit !(t >= 0.3) }'
t=$(curl -sN -o "$T/out" -w '%{time_starttransfer} %{time_total}' -d "$SCHAT" "$U/s/ttft=200,chunks=2/v1/chat/completions")
check "ttft=200" awk -v t="$t" 'BEGIN { split(t, a, " "); exit !(a[2] >= 0.2) }'
# split: judged by the mock's own record of its writes (the receiver may get
# several pieces in one read on a busy machine): each event of the answer
# went out in several writes (3 each; the last ones go out after the `done`
# entry is written, hence 2 per event at least)
curl -s -X POST $U/_mock/reset >/dev/null
post /s/split=1,chunks=5/v1/chat/completions "$SCHAT" >/dev/null
check "split=1: same bytes" eq "$(content_of $T/out)" "mock: Hello world"
events=$(grep -c '^data: ' "$T/out")
writes=$(curl -s "$U/_mock/record" | grep '"event":"done"' | sed -E 's/.*"writes":([0-9]+).*/\1/')
check "split=1: every event written in pieces ($events events, ${writes:-no} writes)" awk -v e="$events" -v w="${writes:-0}" 'BEGIN { exit !(e >= 7 && w >= 2 * e) }'

# an unpaced stream far past the mock's 256 KiB write buffer mark is written
# whole (it used to stall there when the socket took each batch at once)
post /s/chunks=3000,chunk_size=200/v1/chat/completions "$SCHAT" -m 60 >/dev/null
check "unpaced 1 MB stream: complete" bash -c "[ \$(wc -c <$T/out) -gt 1000000 ] && grep -q 'data: \[DONE\]' $T/out"
post /s/crlf=1/v1/chat/completions "$SCHAT" >/dev/null
check "crlf=1" eq "$(grep -c $'\r$' $T/out)" "$(wc -l <$T/out)"
post /s/comments=1,chunks=3/v1/chat/completions "$SCHAT" >/dev/null
check "comments=1" eq "$(grep -c '^: keep-alive' $T/out)" 3
post /s/stamp=1,chunks=2/v1/chat/completions "$SCHAT" >/dev/null
check "stamp=1" eq "$(grep -c '"content":"\[t=[0-9]*\]' $T/out)" 2
post /s/chunked=0/v1/chat/completions "$SCHAT" >/dev/null
check "chunked=0: close-delimited stream" bash -c "grep -qi '^connection: close' $T/hdr && ! grep -qi transfer-encoding $T/hdr && grep -q DONE $T/out"
t=$(curl -s -o /dev/null -w '%{time_total}' -H 'x-mock: fault=slow_read,pause=400' -H 'content-type: application/json' --data-binary "$PLAIN" "$U/v1/chat/completions")
check "slow_read pause=400" awk -v t="$t" 'BEGIN { exit !(t >= 0.4) }'
head -c 300000 /dev/zero | tr '\0' 'a' >"$T/big"
check "big body with Expect: 100-continue" eq "$(curl -s -o /dev/null -w '%{http_code}' -H 'Expect: 100-continue' --data-binary @"$T/big" "$U/v1/models" -X GET)" 200
check "chunked request body" eq "$(post /v1/chat/completions "$PLAIN" -H 'Transfer-Encoding: chunked'; grep -o '"content":"[^"]*"' $T/out)" '200"content":"mock: Hello world"'
exec 3<>/dev/tcp/127.0.0.1/$PORT
printf 'GET /static/3 HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /static/2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >&3
timeout 30 cat <&3 >"$T/out"
exec 3<&-
check "pipelining: 3 responses in order, then close" eq "$(grep -o 'HTTP/1.1 200' $T/out | wc -l) $(tail -c 2 $T/out)" "3 xx"

# ---- Poe bot protocol
POEQ=$(cat "$FIX/poe/query-request.json")
check "poe status" eq "$(post /bot/GPT-4o "$POEQ")" 200
check "poe shape = fixture" same_shape "$T/out" "$FIX/poe/bot-stream.sse"
check "poe text" eq "$(grep -o '"text": "[^"]*"' $T/out | head -n 8 | sed 's/"text": "//; s/"$//' | tr -d '\n')" "mock: 2+2?"
post /s/poe_replace=1,chunks=2/bot/GPT-4o "$POEQ" >/dev/null
check "poe_replace" eq "$(grep -o '^event: [a-z_]*' $T/out | tr '\n' ' ')" "event: meta event: text event: replace_response event: text event: suggested_reply event: done "
post /bot/GPT-4o "$POEQ" -H 'x-mock: fault=poe_error_before,error_type=insufficient_fund' >/dev/null
check "poe_error_before = fixture" eq "$(cat $T/out)" "$(cat "$FIX/poe/bot-error.sse")"
post /bot/GPT-4o "$POEQ" -H 'x-mock: fault=poe_error_after,after=2,allow_retry=1' >/dev/null
check "poe_error_after" eq "$(grep -o '^event: [a-z]*' $T/out | tr '\n' ' ')" "event: meta event: text event: text event: error event: done "
check "poe allow_retry" has "$T/out" '"allow_retry": true'
post /s/fault=poe_no_done/bot/GPT-4o "$POEQ" >/dev/null
check "poe_no_done" bash -c "! grep -q 'event: done' $T/out && grep -q 'event: text' $T/out"
check "poe with an OpenAI body" eq "$(post /bot/X "$PLAIN"; grep -c '^event: text' $T/out)" "2008"
check "poe 401" eq "$(post /bot/X "$POEQ" -H 'Authorization: Bearer k-fail401')" 401

# ---- Puter driver API
PUTQ=$(cat "$FIX/puter/request.json")
post /drivers/call "$PUTQ" -H 'x-mock: puter_noise=1,puter_reasoning=1,puter_nonl=1,chunks=4' >/dev/null
check "puter stream shape = fixture" same_shape "$T/out" "$FIX/puter/stream.ndjson"
check "puter stream text" eq "$(grep -o '"type":"text","text":"[^"]*"' $T/out | sed 's/.*"text":"//; s/"$//' | tr -d '\n')" "mock: Hello"
check "puter_nonl: no final newline" eq "$(tail -c 1 $T/out | od -An -c | tr -d ' ')" '}'
post /drivers/call "$PUTQ" -H 'x-mock: puter_tools=1,crlf=1' >/dev/null
check "puter tool_use and CRLF" bash -c "grep -q '\"type\":\"tool_use\"' $T/out && [ \$(grep -c \$'\r\$' $T/out) = \$(wc -l <$T/out) ]"
NS=$(echo "$PUTQ" | sed 's/"stream":true/"stream":false/')
post /drivers/call "$NS" >/dev/null
check "puter non-stream shape = fixture" eq "$(sed -E 's/"content":"[^"]*"/C/; s/"amount":[0-9]+/A/g' $T/out)" "$(tr -d '\n' <"$FIX/puter/nonstream.json" | sed -E 's/"content":"[^"]*"/C/; s/"amount":[0-9]+/A/g')"
post /drivers/call "$NS" -H 'x-mock: puter_array=1,chunks=2' >/dev/null
check "puter array content" has "$T/out" '"content":[{"type":"text","text":"mock:"},{"type":"text","text":" Hello"}]'
check "puter_200_error = fixture" eq "$(post /drivers/call "$PUTQ" -H 'x-mock: fault=puter_200_error'; cat $T/out)" "200$(tr -d '\n' <"$FIX/puter/error-200.json")"
check "puter 401 = fixture" eq "$(post /drivers/call "$PUTQ" -H 'Authorization: Bearer tok-fail401'; cat $T/out)" "401$(tr -d '\n' <"$FIX/puter/error-401.json")"
check "puter models = fixture" eq "$(curl -s $U/puterai/chat/models)" "$(tr -d '\n' <"$FIX/puter/models.json")"

# ---- Anthropic Messages API
AQ='{"model":"claude-sonnet-4-5","max_tokens":64,"system":"Be brief.","messages":[{"role":"user","content":"Hi"}],"stream":true}'
ANS='{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"Hello world"}]}'
AH=(-H 'x-api-key: sk-ant-test' -H 'anthropic-version: 2023-06-01')
check "anthropic stream status" eq "$(post /v1/messages "$AQ" "${AH[@]}")" 200
check "anthropic stream events" eq "$(events_of $T/out)" "message_start content_block_start ping $(printf 'content_block_delta %.0s' $(seq 8))content_block_stop message_delta message_stop "
check "anthropic stream: each data line's type is its event's name" eq "$(paste -d ' ' <(grep '^event: ' $T/out | sed 's/^event: //') <(grep '^data: ' $T/out | sed -E 's/^data: \{"type": ?"([a-z_]*)".*/\1/') | awk '$1 != $2' | wc -l)" 0
check "anthropic stream text" eq "$(text_of $T/out)" "mock: Hi"
check "anthropic stream usage" bash -c "grep -q '\"usage\":{\"input_tokens\":3,\"output_tokens\":1}' $T/out && grep -q '\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":8}' $T/out"
check "anthropic stream headers" bash -c "grep -qi '^content-type: text/event-stream' $T/hdr && grep -qi '^request-id: req_' $T/hdr && grep -qi '^anthropic-ratelimit-requests-remaining: 49' $T/hdr"
post /s/tools=1/v1/messages "$AQ" "${AH[@]}" >/dev/null
check "anthropic stream with a tool call: shape = fixture" same_shape "$T/out" "$FIX/anthropic/stream-text-tool.sse"
check "anthropic tool input pieces join to the arguments" eq "$(grep -o '"partial_json":"[^"]*\(\\"[^"]*\)*"' $T/out | sed -E 's/^"partial_json":"//; s/"$//; s/\\"/"/g' | tr -d '\n')" '{"location":"Paris","n":0}'
post /s/thinking=1,chunks=1/v1/messages "$AQ" "${AH[@]}" >/dev/null
check "anthropic thinking: shape = fixture (but the ping)" same_shape <(grep -v ping $T/out) "$FIX/anthropic/stream-thinking.sse"
check "anthropic thinking events" eq "$(events_of $T/out)" "message_start content_block_start ping content_block_delta content_block_delta content_block_delta content_block_delta content_block_stop content_block_start content_block_delta content_block_stop message_delta message_stop "
post /s/tools=2,chunks=0/v1/messages '{"model":"c","max_tokens":9,"stream":true,"tools":[{"name":"lookup","input_schema":{}},{"name":"fetch","input_schema":{}}],"messages":[{"role":"user","content":"x"}]}' >/dev/null
check "anthropic parallel tool calls named from tools[], no text block" eq "$(grep -o '"index":[0-9],"content_block":{"type":"[a-z_]*","id":"toolu_[a-z0-9_]*","name":"[a-z]*"' $T/out | sed -E 's/"id":"[^"]*",//' | tr '\n' ' ')" '"index":0,"content_block":{"type":"tool_use","name":"lookup" "index":1,"content_block":{"type":"tool_use","name":"fetch" '
check "anthropic tool calls: stop_reason tool_use" has "$T/out" '"stop_reason":"tool_use"'
check "anthropic non-stream status" eq "$(post /s/tools=1/v1/messages "$ANS" "${AH[@]}")" 200
norm_msg() { sed -E 's/"(id|model|text)":"[^"]*"/"\1":S/g; s/"input":\{[^}]*\}/"input":J/; s/_tokens":[0-9]+/_tokens":N/g'; }
check "anthropic non-stream shape = fixture" eq "$(norm_msg <$T/out)" "$(tr -d '\n' <"$FIX/anthropic/message.json" | norm_msg)"
check "anthropic non-stream content" has "$T/out" '{"type":"text","text":"mock: Hello world"},{"type":"tool_use","id":"toolu_'
check "anthropic non-stream usage" has "$T/out" '"usage":{"input_tokens":2,"output_tokens":8,"cache_creation_input_tokens":0,"cache_read_input_tokens":0}'
post /s/thinking=1,chunks=2/messages "$ANS" >/dev/null
check "anthropic non-stream thinking block first (/messages)" has "$T/out" '"content":[{"type":"thinking","thinking":"Let me think about that.","signature":"'
for f in stop:end_turn length:max_tokens tool_calls:tool_use stop_sequence:stop_sequence; do
    post /s/finish=${f%%:*}/v1/messages "$ANS" >/dev/null
    check "anthropic finish=${f%%:*} is stop_reason ${f#*:}" has "$T/out" "\"stop_reason\":\"${f#*:}\""
done
post /s/comments=1,chunks=3/v1/messages "$AQ" >/dev/null
check "anthropic comments=1: a ping before every chunk" eq "$(grep -c '^event: ping' $T/out)" 4
post /s/fault=error_midstream,after=2/v1/messages "$AQ" >/dev/null
check "anthropic error_midstream = fixture's error event" eq "$(grep -A 1 '^event: error' $T/out)" "$(grep -A 1 '^event: error' "$FIX/anthropic/stream-error.sse")"
check "anthropic error_midstream: 2 chunks, no message_stop" eq "$(text_of $T/out) $(grep -c message_stop $T/out)" "mo 0"
post /v1/messages "$ANS" -H 'x-api-key: sk-ant-fail429-retry_after=12' >/dev/null
norm_err() { sed -E 's/"request_id":"[^"]*"/"request_id":R/'; }
check "anthropic 429 body = fixture" eq "$(norm_err <$T/out)" "$(tail -n 1 "$FIX/anthropic/error-429-headers.txt" | norm_err)"
check "anthropic 429 headers" bash -c "grep -q '^retry-after: 12' $T/hdr && grep -qE '^anthropic-ratelimit-requests-reset: [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z' $T/hdr && grep -q '^anthropic-ratelimit-requests-remaining: 0' $T/hdr"
for f in 400:invalid_request_error 401:authentication_error 402:invalid_request_error 403:permission_error 404:not_found_error 413:request_too_large 500:api_error 529:overloaded_error; do
    check "anthropic fault=${f%%:*}: ${f#*:}" eq "$(post /v1/messages "$AQ" -H "x-api-key: sk-ant-fail${f%%:*}"; grep -o '^{"type":"error","error":{"type":"[a-z_]*"' $T/out)" "${f%%:*}{\"type\":\"error\",\"error\":{\"type\":\"${f#*:}\""
done
check "anthropic without max_tokens: 400" eq "$(post /v1/messages '{"model":"c","messages":[]}'; cat $T/out | norm_err)" '400{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"},"request_id":R}'
check "anthropic without messages: 400" eq "$(post /v1/messages '{"model":"c","max_tokens":1}'; grep -o '"message":"[^"]*"' $T/out)" '400"message":"messages: Field required"'
check "anthropic unknown option: 400 mock_error" eq "$(post /s/fualt=1/v1/messages "$ANS"; grep -o '"type":"mock_error"' $T/out)" '400"type":"mock_error"'
check "anthropic count_tokens: words of system and messages" eq "$(post /v1/messages/count_tokens '{"model":"c","system":[{"type":"text","text":"You are a bot."}],"messages":[{"role":"user","content":"Hello big world"},{"role":"assistant","content":[{"type":"text","text":"ok then"}]}]}'; cat $T/out)" '200{"input_tokens":9}'
check "anthropic count_tokens: bad body 400" eq "$(post /v1/messages/count_tokens '{"model":'; grep -o '"type":"invalid_request_error"' $T/out)" '400"type":"invalid_request_error"'
check "anthropic models (anthropic-version header)" eq "$(curl -s -H 'anthropic-version: 2023-06-01' $U/v1/models | grep -o '"first_id":"[^"]*","last_id":"[^"]*"\|"type":"model","id":"claude-sonnet-4-5","display_name":"Claude Sonnet 4.5"' | tr -d '\n')" '"type":"model","id":"claude-sonnet-4-5","display_name":"Claude Sonnet 4.5""first_id":"claude-sonnet-4-5","last_id":"claude-3-5-haiku-20241022"'
check "anthropic models= override" eq "$(curl -s "$U/s/format=anthropic,models=a|b/v1/models")" '{"data":[{"type":"model","id":"a","display_name":"a","created_at":"2025-01-01T00:00:00Z"},{"type":"model","id":"b","display_name":"b","created_at":"2025-01-01T00:00:00Z"}],"has_more":false,"first_id":"a","last_id":"b"}'
curl -s -X POST $U/_mock/reset >/dev/null
post /v1/messages "$ANS" "${AH[@]}" -H 'anthropic-beta: interleaved-thinking-2025-05-14' >/dev/null
check "anthropic record: headers and key" bash -c "curl -s $U/_mock/record | grep '\"event\":\"request\"' | grep -q '\"x-api-key\":\"sk-ant-test\",\"anthropic-version\":\"2023-06-01\",\"anthropic-beta\":\"interleaved-thinking-2025-05-14\".*\"key\":\"sk-ant-test\"'"

# ---- tools and thinking in the OpenAI format
post /s/tools=2,thinking=1,chunks=2/v1/chat/completions '{"model":"m","stream":true,"tools":[{"type":"function","function":{"name":"lookup"}}],"messages":[{"role":"user","content":"Hi"}]}' >/dev/null
check "openai thinking=1: reasoning_content deltas first" eq "$(grep -o '"delta":{"reasoning_content":"[^"]*"}' $T/out | sed -E 's/.*:"([^"]*)"}/\1/' | tr -d '\n')" "Let me think about that."
check "openai tools=2: two calls named from tools[]" eq "$(grep -o '"tool_calls":\[{"index":[0-9],"id":"call_[a-z0-9_]*","type":"function","function":{"name":"[a-z_]*"' $T/out | sed -E 's/"id":"[^"]*",//' | tr '\n' ' ')" '"tool_calls":[{"index":0,"type":"function","function":{"name":"lookup" "tool_calls":[{"index":1,"type":"function","function":{"name":"lookup" '
check "openai tools=2: finish_reason tool_calls" has "$T/out" '"finish_reason":"tool_calls"'
post /s/tools=1,chunks=0/v1/chat/completions "$PLAIN" >/dev/null
check "openai tools=1 non-stream" has "$T/out" '"content":null,"tool_calls":[{"id":"call_mock'
check "openai tools=1 non-stream arguments" has "$T/out" '"function":{"name":"get_weather","arguments":"{\"location\":\"Paris\",\"n\":0}"}}]'

# ---- tool round trips: tool_input, tool_name, and the turn after tool results
# the JSON strings of a stream's tool arguments (OpenAI) or input (Anthropic), joined
args_of() { grep -o "\"$2\":\"[^\"\\\\]*\(\\\\.[^\"\\\\]*\)*\"" "$1" | sed -E "s/^\"$2\":\"//; s/\"\$//; s/\\\\\"/\"/g" | tr -d '\n'; }
TI='%7B%22command%22%3A%22echo%20hi%2C%20there%22%2C%22n%22%3A%5B1%2C2%5D%7D' # {"command":"echo hi, there","n":[1,2]}
OTOOLS='"tools":[{"type":"function","function":{"name":"Read"}},{"type":"function","function":{"name":"Bash"}}]'
post /v1/chat/completions "{\"model\":\"m~tools=2,tool_name=Bash,tool_input=$TI\",\"stream\":true,$OTOOLS,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}" >/dev/null
check "openai tool_input (model suffix, %2C): stream arguments join to it, twice" eq "$(args_of $T/out arguments)" '{"command":"echo hi, there","n":[1,2]}{"command":"echo hi, there","n":[1,2]}'
check "openai tool_name picks the tool by name" eq "$(grep -o '"function":{"name":"[A-Za-z]*"' $T/out | sort | uniq -c | sed 's/^ *//')" '2 "function":{"name":"Bash"'
post "/s/tools=1,tool_name=Shell,tool_input=$TI/v1/chat/completions" "{\"model\":\"m\",$OTOOLS,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}" >/dev/null
check "openai tool_input and tool_name (not offered) non-stream (path)" has "$T/out" '"function":{"name":"Shell","arguments":"{\"command\":\"echo hi, there\",\"n\":[1,2]}"}}]'
post /v1/chat/completions '{"model":"m~tools=1","stream":true,"messages":[{"role":"user","content":"Hi"}]}' -H 'x-mock-tool-input: {"path":"/tmp/é.txt"}' >/dev/null
check "openai tool_input raw in x-mock-tool-input, UTF-8 kept whole across pieces" eq "$(args_of $T/out arguments)" '{"path":"/tmp/é.txt"}'
post /v1/chat/completions '{"model":"m","mock":{"tools":1,"tool_input":{"q":1}},"messages":[{"role":"user","content":"Hi"}]}' -H 'x-mock: tool_name=Find' >/dev/null
check "openai tool_input as an object in the body's mock field" has "$T/out" '"function":{"name":"Find","arguments":"{\"q\":1}"}'
check "tool_input not JSON: 400 mock_error" eq "$(post /v1/chat/completions '{"model":"m~tools=1,tool_input=%7B%22a%22","messages":[]}'; grep -o '"message":"[^"]*","type":"mock_error"' $T/out)" "400\"message\":\"mock: bad JSON object for 'tool_input'\",\"type\":\"mock_error\""
check "tool_input an array: 400 mock_error" eq "$(post /v1/chat/completions '{"model":"m~tool_input=%5B1%5D","messages":[]}'; grep -o mock_error $T/out)" "400mock_error"
OTURN='"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"Bash","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"hi there"}]'
post /v1/chat/completions "{\"model\":\"m~tools=1,chunks=0,tool_input=$TI\",\"stream\":true,$OTOOLS,$OTURN}" >/dev/null
check "openai after a tool message: text 'tool said: <result>' (stream, chunks=0 as 8)" eq "$(content_of $T/out) $(grep -c '"content":"' $T/out)" "tool said: hi there 9"
check "openai after a tool message: finish stop, no tool_calls" bash -c "grep -q '\"finish_reason\":\"stop\"' $T/out && ! grep -q tool_calls $T/out"
post /s/tools=2/v1/chat/completions '{"model":"m","messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":null},{"role":"tool","tool_call_id":"a","content":[{"type":"text","text":"sun"},{"type":"text","text":"ny"}]},{"role":"function","name":"f","content":"rain"}]}' >/dev/null
check "openai after tool messages (parts, role function): non-stream text, finish stop" has "$T/out" '"message":{"role":"assistant","content":"tool said: sunny\nrain","refusal":null},"logprobs":null,"finish_reason":"stop"'
post /s/tools=1/v1/chat/completions '{"model":"m","messages":[{"role":"tool","content":"old"},{"role":"user","content":"Hi"}]}' >/dev/null
check "openai tool message not last: tool calls as usual" has "$T/out" '"content":"mock: Hi","tool_calls":[{'
ATOOLS='"tools":[{"name":"Read","input_schema":{}},{"name":"Bash","input_schema":{}}]'
post /v1/messages "{\"model\":\"claude~tools=1,chunks=0,tool_name=Bash,tool_input=$TI\",\"max_tokens\":64,\"stream\":true,$ATOOLS,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}" "${AH[@]}" >/dev/null
check "anthropic tool_input: partial_json joins to it (stream)" eq "$(args_of $T/out partial_json)" '{"command":"echo hi, there","n":[1,2]}'
check "anthropic tool_name: the tool_use block's name" has "$T/out" '"content_block":{"type":"tool_use","id":"toolu_mock'
check "anthropic tool_name: Bash" has "$T/out" '"name":"Bash","input":{}}'
post /v1/messages "{\"model\":\"claude\",\"max_tokens\":64,$ATOOLS,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}" -H "x-mock: tools=1,tool_name=Bash,tool_input=$TI" >/dev/null
check "anthropic tool_input non-stream (x-mock list, encoded)" has "$T/out" '{"type":"tool_use","id":"toolu_mock'
check "anthropic tool_input non-stream: input object" has "$T/out" '"name":"Bash","input":{"command":"echo hi, there","n":[1,2]}}],"stop_reason":"tool_use"'
check "anthropic tool_input not JSON: 400 mock_error" eq "$(post /v1/messages '{"model":"c~tools=1,tool_input=nope","max_tokens":9,"messages":[]}'; grep -o '"type":"mock_error","message":"[^"]*"' $T/out)" "400\"type\":\"mock_error\",\"message\":\"mock: bad JSON object for 'tool_input'\""
ATURN='"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"Bash","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"hi"},{"type":"text","text":" there"}]},{"type":"text","text":"(reminder)"}]}]'
post /s/tools=1,chunks=0/v1/messages "{\"model\":\"claude\",\"max_tokens\":64,\"stream\":true,$ATOOLS,$ATURN}" "${AH[@]}" >/dev/null
check "anthropic after a tool_result: text 'tool said: <result>' (stream)" eq "$(text_of $T/out)" "tool said: hi there"
check "anthropic after a tool_result: end_turn, no tool_use (stream)" bash -c "grep -q '\"stop_reason\":\"end_turn\"' $T/out && ! grep -q tool_use $T/out"
check "anthropic after a tool_result: events" eq "$(events_of $T/out)" "message_start content_block_start ping $(printf 'content_block_delta %.0s' $(seq 8))content_block_stop message_delta message_stop "
post /s/tools=2/v1/messages '{"model":"claude","max_tokens":64,"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":[]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":"file.txt"},{"type":"tool_result","tool_use_id":"b","content":"42","is_error":true}]}]}' "${AH[@]}" >/dev/null
check "anthropic after tool_results (strings): non-stream text, end_turn" has "$T/out" '"content":[{"type":"text","text":"tool said: file.txt\n42"}],"stop_reason":"end_turn"'

# ---- OpenAI Responses API
# the shape of a Responses stream: values replaced, the echoed parameters and
# error/incomplete_details (not in the fixtures) dropped, distinct lines sorted
resp_shape() {
    tr -d '\r' <"$1" | sed -E 's/,"error":null,"incomplete_details":null//; s/,"instructions":.*,"metadata":\{\}//;
        s/"(id|item_id|call_id|model)":"[^"]*"/"\1":I/g; s/"(sequence_number|created_at|output_index)":[0-9]+/"\1":N/g;
        s/"(delta|text|arguments)":"([^"\\]|\\.)*"/"\1":C/g; s/"(input|output|total|reasoning|cached)_tokens":[0-9]+/"\1_tokens":N/g' | sort -u
}
# the output_text deltas of a Responses stream, joined
rdeltas_of() { grep -o '"type":"response.output_text.delta",.*"delta":"[^"]*"' "$1" | sed -E 's/.*"delta":"([^"]*)"/\1/' | tr -d '\n'; }
RQ='{"model":"gpt-4.1","instructions":"Be brief.","input":[{"role":"user","content":[{"type":"input_text","text":"Hi"}]}],"stream":true}'
RNS='{"model":"gpt-4.1","input":"Hello world"}'
check "responses stream status" eq "$(post /v1/responses "$RQ")" 200
check "responses stream events" eq "$(events_of $T/out)" "response.created response.in_progress response.output_item.added response.content_part.added $(printf 'response.output_text.delta %.0s' $(seq 8))response.output_text.done response.content_part.done response.output_item.done response.completed "
check "responses stream shape = fixture" same_shape <(resp_shape $T/out) <(resp_shape "$FIX/responses/stream-text.sse")
check "responses stream: each data line's type is its event's name" eq "$(paste -d ' ' <(grep '^event: ' $T/out | sed 's/^event: //') <(grep '^data: ' $T/out | sed -E 's/^data: \{"type":"([a-z_.]*)".*/\1/') | awk '$1 != $2' | wc -l)" 0
check "responses stream: sequence_number 0, 1, 2, ..." eq "$(grep -o '^data: {"type":"[a-z_.]*","sequence_number":[0-9]*' $T/out | sed 's/.*://' | tr '\n' ' ')" "$(seq -s ' ' 0 15) "
check "responses stream text" eq "$(rdeltas_of $T/out)" "mock: Hi"
check "responses stream: done text, no [DONE]" bash -c "grep -q '\"type\":\"response.output_text.done\",.*\"text\":\"mock: Hi\"}' $T/out && ! grep -q DONE $T/out"
check "responses stream: completed with the whole response and usage" has "$T/out" '"status":"completed","error":null,"incomplete_details":null,"model":"gpt-4.1","output":[{"id":"msg_mock'
check "responses stream: usage (instructions and input words)" has "$T/out" '"usage":{"input_tokens":3,"input_tokens_details":{"cached_tokens":0},"output_tokens":8,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":11}}}'
check "responses stream: instructions echoed, OpenAI headers" bash -c "grep -q '\"instructions\":\"Be brief.\"' $T/out && grep -qi '^x-ratelimit-limit-requests' $T/hdr && grep -qi '^content-type: text/event-stream' $T/hdr"
post /s/tools=1,chunks=0/v1/responses '{"model":"gpt-4.1","input":"Weather in Paris?","stream":true,"tools":[{"type":"function","name":"get_weather","parameters":{}}]}' >/dev/null
check "responses function call stream shape = fixture" same_shape <(resp_shape $T/out) <(resp_shape "$FIX/responses/stream-function-call.sse")
check "responses function call arguments join" eq "$(args_of $T/out delta)" '{"location":"Paris","n":0}'
check "responses non-stream" eq "$(post /v1/responses "$RNS"; grep -o '"status":"completed".*"output":\[{"id":"msg_mock[0-9]*","type":"message","status":"completed","role":"assistant","content":\[{"type":"output_text","text":"mock: Hello world","annotations":\[\]}\]}\]' $T/out | sed -E 's/msg_mock[0-9]+/msg/')" '200"status":"completed","error":null,"incomplete_details":null,"model":"gpt-4.1","output":[{"id":"msg","type":"message","status":"completed","role":"assistant","content":[{"type":"output_text","text":"mock: Hello world","annotations":[]}]}]'
check "responses non-stream: id, echo, usage" bash -c "grep -q '^{\"id\":\"resp_mock[0-9]*\",\"object\":\"response\",\"created_at\":[0-9]*,' $T/out && grep -q '\"parallel_tool_calls\":true,.*\"tool_choice\":\"auto\",\"tools\":\[\]' $T/out && grep -q '\"usage\":{\"input_tokens\":2,.*\"output_tokens\":8,.*\"total_tokens\":10}}$' $T/out"
RCT='"tools":[{"type":"function","name":"exec_command","parameters":{}},{"type":"custom","name":"apply_patch"}]'
post /s/thinking=1,tools=2,chunks=2/v1/responses "{\"model\":\"m\",\"stream\":true,$RCT,\"input\":\"Hi\"}" >/dev/null
check "responses thinking + function call + custom tool call: events" eq "$(events_of $T/out)" "response.created response.in_progress response.output_item.added response.reasoning_summary_part.added $(printf 'response.reasoning_summary_text.delta %.0s' 1 2 3)response.reasoning_summary_text.done response.reasoning_summary_part.done response.output_item.done response.output_item.added response.content_part.added response.output_text.delta response.output_text.delta response.output_text.done response.content_part.done response.output_item.done response.output_item.added $(printf 'response.function_call_arguments.delta %.0s' 1 2 3)response.function_call_arguments.done response.output_item.done response.output_item.added $(printf 'response.custom_tool_call_input.delta %.0s' 1 2 3)response.custom_tool_call_input.done response.output_item.done response.completed "
check "responses thinking: summary deltas" eq "$(grep -o 'reasoning_summary_text.delta",.*"delta":"[^"]*"' $T/out | sed -E 's/.*"delta":"([^"]*)"/\1/' | tr -d '\n')" "Let me think about that."
check "responses items in the completed output" has "$T/out" '"output":[{"id":"rs_mock'
check "responses custom tool call item" eq "$(grep -o '"output_index":3,"item":{"id":"ctc_mock[0-9]*_1","type":"custom_tool_call","call_id":"call_mock[0-9]*_1","name":"apply_patch","input":"{' $T/out | sed -E 's/mock[0-9]+_/mock_/g')" '"output_index":3,"item":{"id":"ctc_mock_1","type":"custom_tool_call","call_id":"call_mock_1","name":"apply_patch","input":"{'
check "responses function call item: output_index 2" bash -c "grep -q '\"output_index\":2,\"item\":{\"id\":\"fc_mock[0-9]*_0\",\"type\":\"function_call\",\"status\":\"completed\",\"call_id\":\"call_mock[0-9]*_0\",\"name\":\"exec_command\"' $T/out"
check "responses usage: reasoning tokens" has "$T/out" '"output_tokens":5,"output_tokens_details":{"reasoning_tokens":3},"total_tokens":6}'
post "/s/tools=1,chunks=0,tool_name=apply_patch,tool_text=***%20Begin%20Patch%0A***%20End%20Patch/v1/responses" "{\"model\":\"m\",$RCT,\"input\":\"Hi\"}" >/dev/null
check "responses custom tool call non-stream (tool_name, tool_text raw)" has "$T/out" '"type":"custom_tool_call","call_id":"call_mock'
check "responses custom tool call input = tool_text" has "$T/out" '"name":"apply_patch","input":"*** Begin Patch\n*** End Patch"}]'
post /s/tools=1/v1/responses "$(tr -d '\n' <"$FIX/responses/request.json")" >/dev/null
check "responses after function_call_output (fixture request): 'tool said: <output>'" eq "$(rdeltas_of $T/out) $(grep -c function_call_arguments $T/out)" "tool said: 21C, sunny 0"
post /s/tools=1,chunks=0/v1/responses '{"model":"m","input":[{"role":"user","content":"x"},{"type":"custom_tool_call","call_id":"c","name":"apply_patch","input":"p"},{"type":"custom_tool_call_output","call_id":"c","output":[{"type":"input_text","text":"Done!"}]}]}' >/dev/null
check "responses after custom_tool_call_output (non-stream)" has "$T/out" '"content":[{"type":"output_text","text":"tool said: Done!","annotations":[]}]}],'
post /s/finish=length,chunks=2/v1/responses "$RQ" >/dev/null
check "responses finish=length: response.incomplete last" eq "$(events_of $T/out | awk '{ print $NF }')" "response.incomplete"
check "responses finish=length: incomplete_details" has "$T/out" '"status":"incomplete","error":null,"incomplete_details":{"reason":"max_output_tokens"}'
post /s/fault=error_midstream,after=2/v1/responses "$RQ" >/dev/null
check "responses error_midstream: error then response.failed, nothing after" eq "$(events_of $T/out | awk '{ print $(NF-1), $NF }')" "error response.failed"
check "responses error_midstream: 2 chunks" eq "$(rdeltas_of $T/out)" "mo"
check "responses error_midstream: the error event" has "$T/out" 'data: {"type":"error","sequence_number":6,"code":"server_error","message":"An error occurred while processing your request.'
check "responses error_midstream: response.failed with error" has "$T/out" '"status":"failed","error":{"code":"server_error","message":"An error occurred'
post /s/fault=error_midstream,error_type=rate_limit_exceeded,message=slow%20down/v1/responses "$RQ" >/dev/null
check "responses error_midstream: error_type and message" has "$T/out" '"code":"rate_limit_exceeded","message":"slow down","param":null}'
post /s/fault=truncate,after=3/v1/responses "$RQ" >/dev/null
check "responses truncate: 3 chunks, no response.completed" eq "$(rdeltas_of $T/out) $(grep -c response.completed $T/out)" "moc 0"
check "responses 429 body = OpenAI fixture" eq "$(post /v1/responses "$RQ" -H 'Authorization: Bearer sk-r-fail429'; cat $T/out)" "429$(tail -n 1 "$FIX/openai/error-429-headers.txt")"
check "responses insufficient_quota" eq "$(post /s/fault=insufficient_quota/v1/responses "$RNS"; grep -o '"code":"insufficient_quota"' $T/out)" '429"code":"insufficient_quota"'
check "responses without input: 400" eq "$(post /v1/responses '{"model":"m"}'; cat $T/out)" "400{\"error\":{\"message\":\"Missing required parameter: 'input'.\",\"type\":\"invalid_request_error\",\"param\":\"input\",\"code\":\"missing_required_parameter\"}}"
check "responses GET: 405" eq "$(curl -s -o /dev/null -w '%{http_code}' $U/v1/responses)" 405
check "format=responses: models list as OpenAI's" has <(curl -s $U/s/format=responses/v1/models) '{"object":"list","data":[{"id":"gpt-4o-mini","object":"model"'

# ---- completions, embeddings, images
post /v1/completions '{"model":"m","prompt":"Say this"}' >/dev/null
check "completions" has "$T/out" '"object":"text_completion"'
check "completions text" has "$T/out" '"text":"mock: Say this"'
post /v1/completions '{"model":"m","prompt":"Say this","stream":true}' >/dev/null
check "completions stream" eq "$(grep -o '"text":"[^"]*"' $T/out | sed 's/"text":"//; s/"$//' | tr -d '\n')" "mock: Say this"
post /v1/embeddings '{"model":"e","input":["a","b"],"dimensions":4}' >/dev/null
cp "$T/out" "$T/emb1"
post /v1/embeddings '{"model":"e","input":["a","b"],"dimensions":4}' >/dev/null
check "embeddings deterministic" cmp -s "$T/out" "$T/emb1"
check "embeddings 2 x 4" eq "$(grep -o '"embedding":\[[^]]*\]' $T/out | tr -cd ',\n' | awk '{ print length }' | tr '\n' ' ')" "3 3 "
check "images" eq "$(post /v1/images/generations '{"prompt":"cat"}'; grep -o '"revised_prompt":"cat"' $T/out)" '200"revised_prompt":"cat"'

# ---- record
curl -s -X POST $U/_mock/reset >/dev/null
post /s/fault=429/v1/chat/completions '{"model":"rec-model","messages":[]}' -H 'Authorization: Bearer sk-rec' -H 'X-Custom: Yes' >/dev/null
curl -s "$U/_mock/record" >"$T/rec"
check "record: request and done lines" eq "$(grep -o '"event":"[a-z_]*"' $T/rec | tr '\n' ' ')" '"event":"request" "event":"done" '
check "record: fields" bash -c "grep -q '\"path\":\"/s/fault=429/v1/chat/completions\"' $T/rec && grep -q '\"key\":\"sk-rec\"' $T/rec && grep -q '\"x-custom\":\"Yes\"' $T/rec && grep -q '\"scenario\":{\"format\":\"openai\",\"fault\":\"429\"}' $T/rec && grep -q '\"body\":\"{\\\\\"model\\\\\":\\\\\"rec-model\\\\\"' $T/rec"
# record_wait PATTERN: the first record line matching PATTERN, polled for (the
# mock writes it when the event happens; 30 s only bounds a hang)
record_wait() {
    local line
    for _ in $(seq 600); do
        line=$(curl -s "$U/_mock/record" | grep -E "$1" | head -n 1 | sed 's/,$//')
        [ -n "$line" ] && { echo "$line"; return 0; }
        sleep 0.05
    done
    return 1
}
# a client that stops reading after two content chunks and goes away: the
# mock logs client_closed mid-stream and stops sending
curl -sN -d "$SCHAT" "$U/s/interval=100,chunks=50/v1/chat/completions" | grep -m 2 -q '"content"'
closed=$(record_wait '"event":"client_closed".*interval=100')
check "record: client_closed of an aborted stream" bash -c "[ -n '$closed' ]"
sent=$(echo "$closed" | sed -E 's/.*"chunks_sent":([0-9]+),.*/\1/')
check "record: chunks_sent at close (${sent:-none}): mid-stream" awk -v n="${sent:-0}" 'BEGIN { exit !(n >= 1 && n < 50) }'
check "record file has the same lines" eq "$(grep '"event":"client_closed"' "$REC" | tail -n 1)" "$closed"
# while hanging the mock writes nothing, so a client_closed then shows that
# the peer's end is watched at all times
curl -s -m 2 -o /dev/null "$U/s/fault=hang,tag=watched/v1/models"
check "record: client_closed while hanging" bash -c "[ -n \"\$(echo '$(record_wait '"event":"client_closed".*tag=watched')' )\" ]"
curl -s -X POST $U/_mock/reset >/dev/null
check "record reset" eq "$(curl -s $U/_mock/record)" "[]"

# runtime defaults: under every other source, cleared by an empty body and
# by /_mock/reset; a bad option is a 400 and keeps the old defaults
check "defaults: set" eq "$(curl -s -X POST -d 'fault=503' $U/_mock/defaults)" '{"ok":true}'
check "defaults: apply" eq "$(curl -s -o /dev/null -w '%{http_code}' $U/v1/models)" 503
check "defaults: a header overrides them" eq "$(curl -s -o /dev/null -w '%{http_code}' -H 'x-mock: fault=none' $U/v1/models)" 200
check "defaults: the /_mock/ endpoints ignore them" eq "$(curl -s -o /dev/null -w '%{http_code}' $U/_mock/record)" 200
check "defaults: bad option 400" eq "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d 'fault=nope' $U/_mock/defaults)" 400
check "defaults: kept after a bad option" eq "$(curl -s -o /dev/null -w '%{http_code}' $U/v1/models)" 503
check "defaults: empty body clears" eq "$(curl -s -X POST $U/_mock/defaults)" '{"ok":true}'
check "defaults: cleared" eq "$(curl -s -o /dev/null -w '%{http_code}' $U/v1/models)" 200
curl -s -X POST -d 'fault=500' $U/_mock/defaults >/dev/null
curl -s -X POST $U/_mock/reset >/dev/null
check "defaults: reset clears" eq "$(curl -s -o /dev/null -w '%{http_code}' $U/v1/models)" 200

# cached=N, reasoning=N: the usage's finer counts in each format
post /s/cached=64,reasoning=7/v1/chat/completions "$PLAIN" >/dev/null
check "openai cached/reasoning: usage details" has "$T/out" '"total_tokens":10,"prompt_tokens_details":{"cached_tokens":64},"completion_tokens_details":{"reasoning_tokens":7}}'
post /v1/chat/completions "$PLAIN" >/dev/null
check "openai usage: no details by default" bash -c "! grep -q _details $T/out"
post /s/cached=5,chunks=1/v1/messages "$AQ" "${AH[@]}" >/dev/null
check "anthropic cached: message_start's cache_read_input_tokens" has "$T/out" '"usage":{"input_tokens":3,"output_tokens":1,"cache_read_input_tokens":5}}}'
post /s/cached=5/v1/messages "$ANS" "${AH[@]}" >/dev/null
check "anthropic cached: the message's cache_read_input_tokens" has "$T/out" '"cache_read_input_tokens":5}'
post /s/cached=9,reasoning=4/v1/responses "$RNS" >/dev/null
check "responses cached/reasoning: usage details" has "$T/out" '"input_tokens_details":{"cached_tokens":9},"output_tokens":12,"output_tokens_details":{"reasoning_tokens":4}'

kill $MOCK_PID 2>/dev/null
wait $MOCK_PID 2>/dev/null
check "mock exits cleanly on SIGTERM with nothing else on stderr" eq "$(grep -v '^mock listening on\|^llmgate-mock: stopped by' "$T/mock.err")" ""

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
