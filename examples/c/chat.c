/*
 * ustb-chat: stream one reply of 北科大 AI 助手 to the terminal through the C API.
 * `make install` installs it as ustb-chat; `make demo` builds it as target/debug/ustb-chat.
 *
 * The model's thinking (reasoning_content) is printed first under 【思考】, then the answer
 * under 【回答】. Options: see USAGE below.
 * Exit status: 0 on success (and for --help), 1 on a library error (its name and message go
 * to stderr), 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ustb_openai.h"

static const char USAGE[] =
    "usage: ustb-chat [options] \"prompt\"\n"
    "Streams one reply of 北科大 AI 助手 (chat.ustb.edu.cn): the thinking under 【思考】, then the\n"
    "answer under 【回答】.\n"
    "\n"
    "  --base-url URL    the server (default http://chat.ustb.edu.cn; e.g. ustb-emulator's address)\n"
    "  --cookie COOKIE   the login cookie, \"cookie_vjuid_login=…\" or \"easy_session=…; cookie_vjuid_login=…\"\n"
    "                    (default: the USTB_COOKIE environment variable)\n"
    "  --no-think        deep thinking off\n"
    "  --usage           print the token usage after the answer\n"
    "  --version         print the library's version\n"
    "  -h, --help        print this help\n"
    "  --                end of options (for a prompt that starts with -)\n"
    "\n"
    "Exit status: 0 on success, 1 on a library error (details on stderr), 2 on bad usage.\n";

/* Bad usage: the reason and the usage on stderr, exit status 2. */
static int bad_usage(const char *why, const char *arg) {
    fprintf(stderr, "ustb-chat: %s%s\n\n%s", why, arg, USAGE);
    return 2;
}

static int fail(const char *what, ustb_status status, ustb_error *err) {
    fprintf(stderr, "ustb-chat: %s failed: %s: %s\n", what, ustb_status_name((int)status), ustb_error_message(err));
    fprintf(stderr, "detail: %s\n", ustb_error_detail(err));
    ustb_error_free(err);
    return 1;
}

/* Writes s to the JSON string at out, escaping what JSON needs. Returns bytes written. */
static size_t json_escape(const char *s, char *out) {
    size_t n = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') { out[n++] = '\\'; out[n++] = (char)c; }
        else if (c < 0x20) n += (size_t)sprintf(out + n, "\\u%04x", c);
        else out[n++] = (char)c;
    }
    return n;
}

int main(int argc, char **argv) {
    const char *base_url = NULL, *cookie = getenv("USTB_COOKIE"), *prompt = NULL;
    int think = 1, usage = 0;
    int options_done = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (options_done || a[0] != '-' || !a[1]) {
            if (prompt) return bad_usage("more than one prompt (quote it): ", a);
            prompt = a;
        } else if (!strcmp(a, "--")) options_done = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(USAGE, stdout); return 0; }
        else if (!strcmp(a, "--version")) { printf("ustb-chat (libustb_openai %s)\n", ustb_version()); return 0; }
        else if (!strcmp(a, "--no-think")) think = 0;
        else if (!strcmp(a, "--usage")) usage = 1;
        else if (!strcmp(a, "--base-url") || !strcmp(a, "--cookie")) {
            if (i + 1 == argc) return bad_usage("missing value for option ", a);
            if (a[2] == 'b') base_url = argv[++i];
            else cookie = argv[++i];
        } else return bad_usage("unknown option ", a);
    }
    if (!prompt) return bad_usage("no prompt", "");

    /* Every string is escaped into the JSON, so its size is bounded by 6 bytes per input byte. */
    size_t cap = 256 + 6 * (strlen(prompt) + (base_url ? strlen(base_url) : 0) + (cookie ? strlen(cookie) : 0));
    char *options = malloc(cap), *request = malloc(cap);
    if (!options || !request) return 1;
    size_t n = (size_t)sprintf(options, "{");
    if (base_url) {
        n += (size_t)sprintf(options + n, "\"base_url\":\"");
        n += json_escape(base_url, options + n);
        n += (size_t)sprintf(options + n, "\"%s", cookie ? "," : "");
    }
    if (cookie) {
        n += (size_t)sprintf(options + n, "\"cookie\":\"");
        n += json_escape(cookie, options + n);
        n += (size_t)sprintf(options + n, "\"");
    }
    sprintf(options + n, "}");
    n = (size_t)sprintf(request, "{\"model\":\"deepseek-r1\",\"deep_thinking\":%s,"
                        "\"stream_options\":{\"include_usage\":true},"
                        "\"messages\":[{\"role\":\"user\",\"content\":\"", think ? "true" : "false");
    n += json_escape(prompt, request + n);
    sprintf(request + n, "\"}]}");

    ustb_error *err = NULL;
    ustb_client *client = NULL;
    ustb_status st = ustb_client_new(options, &client, &err);
    free(options);
    if (st != USTB_OK) { free(request); return fail("ustb_client_new", st, err); }

    ustb_chat_stream *stream = NULL;
    st = ustb_chat_stream_open(client, request, &stream, &err);
    free(request);
    if (st != USTB_OK) { ustb_client_free(client); return fail("ustb_chat_stream_open", st, err); }

    int tty = isatty(STDOUT_FILENO);
    const char *dim = tty ? "\033[2m" : "", *plain = tty ? "\033[0m" : "";
    enum { NONE, THINKING, ANSWERING } phase = NONE;
    const char *failed = NULL; /* the call that failed, if any */
    for (;;) {
        char *chunk = NULL;
        st = ustb_chat_stream_next(stream, &chunk, NULL, &err);
        if (st == USTB_END_OF_STREAM) break;
        if (st != USTB_OK) { failed = "ustb_chat_stream_next"; break; }
        char *content = NULL, *reasoning = NULL;
        st = ustb_chunk_delta(chunk, &content, &reasoning, NULL, &err);
        if (st != USTB_OK) { ustb_string_free(chunk); failed = "ustb_chunk_delta"; break; }
        if (reasoning && *reasoning) {
            if (phase == NONE) printf("【思考】\n%s", dim);
            phase = THINKING;
            fputs(reasoning, stdout);
        }
        if (content && *content) {
            if (phase == THINKING) printf("%s\n\n", plain);
            if (phase != ANSWERING) printf("【回答】\n");
            phase = ANSWERING;
            fputs(content, stdout);
        }
        ustb_string_free(content);
        ustb_string_free(reasoning);
        const char *u = usage ? strstr(chunk, "\"usage\":{") : NULL;
        if (u) printf("\n(usage: %.*s)", (int)(strchr(u, '}') - u - 7), u + 8);
        fflush(stdout);
        ustb_string_free(chunk);
    }
    /* Ends the streamed text's line (stdout stays empty when nothing came), then any error. */
    if (phase != NONE) printf("%s\n", plain);
    fflush(stdout);
    int rc = failed ? fail(failed, st, err) : 0;
    ustb_chat_stream_free(stream);
    ustb_client_free(client);
    return rc;
}
