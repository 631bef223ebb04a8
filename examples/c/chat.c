/*
 * ustb-chat: stream one reply of 北科大 AI 助手 to the terminal through the C API.
 * `make install` installs it as ustb-chat; `make demo` builds it as target/debug/ustb-chat.
 *
 * The model's thinking (reasoning_content) is printed first under 【思考】, then the answer
 * under 【回答】. `--doctor` checks the way to the server instead (one line per check).
 * Options: see USAGE below.
 * Exit status: 0 on success (and for --help), 1 on a library error (its name and message go
 * to stderr) or a failed check, 2 on bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ustb_openai.h"

static const char USAGE[] =
    "usage: ustb-chat [options] \"prompt\"\n"
    "       ustb-chat [--base-url URL] [--cookie COOKIE] --doctor\n"
    "Streams one reply of 北科大 AI 助手 (chat.ustb.edu.cn): the thinking under 【思考】, then the\n"
    "answer under 【回答】.\n"
    "\n"
    "  --base-url URL    the server (default http://chat.ustb.edu.cn; e.g. ustb-emulator's address)\n"
    "  --cookie COOKIE   the login cookie, \"cookie_vjuid_login=…\" or \"easy_session=…; cookie_vjuid_login=…\"\n"
    "                    (default: the USTB_COOKIE environment variable)\n"
    "  --record FILE     capture mode: append each exchange with the server to FILE (JSON Lines,\n"
    "                    secrets redacted) to send to the developers; see the README\n"
    "  --no-think        deep thinking off\n"
    "  --usage           print the token usage after the answer\n"
    "  --doctor          check the way to the server instead of chatting: name lookup, TCP,\n"
    "                    HTTP, web_info, the login, a one-token chat; a line each with the\n"
    "                    verdict and the next step (exit 0 when all are ok, 1 otherwise)\n"
    "  --version         print the library's version\n"
    "  -h, --help        print this help\n"
    "  --                end of options (for a prompt that starts with -)\n"
    "\n"
    "Exit status: 0 on success, 1 on a library error (details on stderr) or a failed check,\n"
    "2 on bad usage.\n";

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

/* Copies the JSON string that starts at s (its opening quote) into out, unescaped (a \uXXXX
 * escape, only used for control characters, becomes '?'), and returns the position after its
 * closing quote. out has room: unescaping never makes a string longer. */
static const char *read_string(const char *s, char *out) {
    size_t n = 0;
    for (s++; *s && *s != '"'; s++) {
        if (*s != '\\' || !s[1]) { out[n++] = *s; continue; }
        s++;
        switch (*s) {
        case 'n': out[n++] = ' '; break;
        case 't': out[n++] = ' '; break;
        case 'u': out[n++] = '?'; for (int k = 0; k < 4 && s[1]; k++) s++; break;
        default: out[n++] = *s;
        }
    }
    out[n] = '\0';
    return *s ? s + 1 : s;
}

/* Prints the doctor's report, a line per check: name, verdict, detail, the next step.
 * Returns 0 when every check is ok, else 1. The report's checks hold only strings and
 * numbers: {"name","verdict","detail","next_step","ms"}. */
static int print_report(const char *report) {
    size_t cap = strlen(report) + 1;
    char *key = malloc(cap), *value = malloc(cap), *name = malloc(cap), *verdict = malloc(cap),
         *detail = malloc(cap), *next = malloc(cap);
    int rc = 0;
    if (!key || !value || !name || !verdict || !detail || !next) rc = 1;
    const char *p = rc ? NULL : strstr(report, "\"checks\":[");
    if (!p) rc = 1;
    for (p = p ? p + 10 : NULL; p && *p == '{';) {
        long ms = 0;
        name[0] = verdict[0] = detail[0] = next[0] = '\0';
        for (p++; *p && *p != '}';) {
            if (*p == ',') { p++; continue; }
            p = read_string(p, key);
            if (*p++ != ':') break;
            if (*p == '"') {
                p = read_string(p, value);
                char *to = !strcmp(key, "name") ? name : !strcmp(key, "verdict") ? verdict
                         : !strcmp(key, "detail") ? detail : !strcmp(key, "next_step") ? next : NULL;
                if (to) strcpy(to, value);
            } else {
                char *end;
                long v = strtol(p, &end, 10);
                if (!strcmp(key, "ms")) ms = v;
                p = end;
                while (*p && *p != ',' && *p != '}') p++;
            }
        }
        if (*p == '}') p++;
        if (*p == ',') p++;
        printf("%-9s %-8s %s (%ld ms)%s%s\n", name, verdict, detail, ms, *next ? "\n          next: " : "", next);
        if (strcmp(verdict, "ok") != 0) rc = 1;
    }
    free(key); free(value); free(name); free(verdict); free(detail); free(next);
    return rc;
}

int main(int argc, char **argv) {
    const char *base_url = NULL, *cookie = getenv("USTB_COOKIE"), *prompt = NULL, *record = NULL;
    int think = 1, usage = 0, doctor = 0;
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
        else if (!strcmp(a, "--doctor")) doctor = 1;
        else if (!strcmp(a, "--base-url") || !strcmp(a, "--cookie") || !strcmp(a, "--record")) {
            if (i + 1 == argc) return bad_usage("missing value for option ", a);
            if (a[2] == 'b') base_url = argv[++i];
            else if (a[2] == 'c') cookie = argv[++i];
            else record = argv[++i];
        } else return bad_usage("unknown option ", a);
    }
    if (doctor && prompt) return bad_usage("--doctor takes no prompt: ", prompt);
    if (!prompt && !doctor) return bad_usage("no prompt", "");
    if (!prompt) prompt = "";

    /* Every string is escaped into the JSON, so its size is bounded by 6 bytes per input byte. */
    size_t cap = 256 + 6 * (strlen(prompt) + (base_url ? strlen(base_url) : 0) + (cookie ? strlen(cookie) : 0)
                        + (record ? strlen(record) : 0));
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
    if (record) {
        n += (size_t)sprintf(options + n, "%s\"record\":\"", n > 1 ? "," : "");
        n += json_escape(record, options + n);
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
    if (doctor) {
        free(request);
        char *report = NULL;
        st = ustb_client_doctor(client, NULL, NULL, &report, &err);
        ustb_client_free(client);
        if (st != USTB_OK) return fail("ustb_client_doctor", st, err);
        int rc = print_report(report);
        ustb_string_free(report);
        return rc;
    }

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
