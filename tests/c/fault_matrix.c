/*
 * fault_matrix: runs every row of tests/faults.tsv through the C pull API against the
 * emulator and checks the outcome the row expects.
 *
 *   fault_matrix BASE_URL TABLE [BOUND_MS]
 *
 * Per row: a client with the row's options, ustb_chat_stream_open, ustb_chat_stream_next until
 * the end or an error (and once more: errors are sticky), then the checks: the status name,
 * a substring of the message (ASCII case-insensitive), the expectations (content, finish
 * reason, HTTP status, envelope code), no call slower than BOUND_MS (default 10000), and no
 * cookie value in the message or detail. Prints one line per row; exits 1 on any mismatch.
 *
 * Table columns (tab-separated, a header line first): name, how (`@emu:...` is the prompt;
 * `refused` is a closed port, `nodns` an unresolvable host), options (JSON members added to
 * the client options, or `-`), status, message substring (or `-`), expectations (space-separated
 * `echo`, `content=T`, `starts=T`, `min_bytes=N`, `finish=R`, `http=N`, `e=N`, or `-`),
 * description.
 */
#define _POSIX_C_SOURCE 200809L

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ustb_openai.h"

#define REFUSED_URL "http://127.0.0.1:1"
#define NODNS_URL "http://chat.ustb.invalid"
#define LOGIN "fault-matrix-login-5e3c7a"
#define SESSION "faultmatrixsession0123456789abcd"
#define INTRO "你好！我是北科大 AI 助手。你说：「"
#define MAX_LINE 8192
#define MAX_CHUNKS 1000000

enum { NAME, HOW, OPTIONS, STATUS, MESSAGE, EXPECT, DESCRIPTION, COLUMNS };

static long bound_ms = 10000;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* A growable byte string. */
typedef struct {
    char *data;
    size_t len, cap;
} buf;

static int buf_add(buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) return 0;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 1;
}

static int buf_str(buf *b, const char *s) { return buf_add(b, s, strlen(s)); }

/* Appends `s` as the inside of a JSON string. */
static int buf_json(buf *b, const char *s) {
    for (; *s; s++) {
        if ((*s == '"' || *s == '\\') && !buf_add(b, "\\", 1)) return 0;
        if (!buf_add(b, s, 1)) return 0;
    }
    return 1;
}

static int contains_nocase(const char *hay, const char *needle) {
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i])) i++;
        if (i == n) return 1;
    }
    return n == 0;
}

/* What one row's run produced. */
typedef struct {
    ustb_status status;
    char message[1024];
    int leaked_cookie;
    long http_status;
    long long api_code;
    buf content;
    char finish[64];
    double slowest_ms, total_ms;
    int sticky; /* the call after an error returned the same status */
} outcome;

static void note_error(outcome *o, ustb_error *err) {
    const char *msg = ustb_error_message(err);
    const char *detail = ustb_error_detail(err);
    snprintf(o->message, sizeof o->message, "%s", msg);
    o->leaked_cookie = strstr(msg, LOGIN) || strstr(detail, LOGIN) || strstr(msg, SESSION) || strstr(detail, SESSION);
    o->http_status = ustb_error_http_status(err);
    o->api_code = (long long)ustb_error_api_code(err);
}

/* Adds one chunk's content and finish_reason. */
static int take_chunk(outcome *o, const char *chunk) {
    char *content = NULL, *finish = NULL;
    ustb_error *err = NULL;
    if (ustb_chunk_delta(chunk, &content, NULL, &finish, &err) != USTB_OK) {
        ustb_error_free(err);
        return 0;
    }
    int ok = !content || buf_str(&o->content, content);
    if (finish) snprintf(o->finish, sizeof o->finish, "%s", finish);
    ustb_string_free(content);
    ustb_string_free(finish);
    return ok;
}

/* Runs one row; returns 0 if the run itself could not be set up (out of memory). */
static int run_row(const char *base, const char *prompt, const char *options, outcome *o) {
    buf opts = {0}, req = {0};
    int ok = buf_str(&opts, "{\"base_url\":\"") && buf_json(&opts, base) &&
             buf_str(&opts, "\",\"vjuid_login\":\"" LOGIN "\",\"easy_session\":\"" SESSION "\"") &&
             (strcmp(options, "-") == 0 || (buf_str(&opts, ",") && buf_str(&opts, options))) && buf_str(&opts, "}") &&
             buf_str(&req, "{\"model\":\"deepseek-r1\",\"messages\":[{\"role\":\"user\",\"content\":\"") &&
             buf_json(&req, prompt) && buf_str(&req, "\"}]}");
    ustb_client *client = NULL;
    ustb_chat_stream *stream = NULL;
    ustb_error *err = NULL;
    double start = now_ms(), t = start;
#define TIMED(call)                                  \
    do {                                             \
        t = now_ms();                                \
        o->status = (call);                          \
        double took = now_ms() - t;                  \
        if (took > o->slowest_ms) o->slowest_ms = took; \
    } while (0)
    if (ok) TIMED(ustb_client_new(opts.data, &client, &err));
    if (ok && o->status == USTB_OK) TIMED(ustb_chat_stream_open(client, req.data, &stream, &err));
    for (long n = 0; ok && o->status == USTB_OK && n < MAX_CHUNKS; n++) {
        char *chunk = NULL;
        TIMED(ustb_chat_stream_next(stream, &chunk, NULL, &err));
        if (o->status == USTB_OK) {
            ok = take_chunk(o, chunk);
            ustb_string_free(chunk);
        }
    }
    if (err) {
        note_error(o, err);
        ustb_error_free(err);
        err = NULL;
        if (stream) {
            char *chunk = NULL;
            ustb_status again;
            t = now_ms();
            again = ustb_chat_stream_next(stream, &chunk, NULL, &err);
            if (now_ms() - t > o->slowest_ms) o->slowest_ms = now_ms() - t;
            o->sticky = again == o->status && chunk == NULL && err != NULL;
            ustb_error_free(err);
        } else {
            o->sticky = 1;
        }
    }
    o->total_ms = now_ms() - start;
    ustb_chat_stream_free(stream);
    ustb_client_free(client);
    free(opts.data);
    free(req.data);
    return ok;
}

/* Checks one space-separated expectation token; returns an explanation on mismatch. */
static const char *check_expect(const char *tok, const char *prompt, const outcome *o, char *why, size_t n) {
    if (strcmp(tok, "echo") == 0) {
        buf want = {0};
        int same = buf_str(&want, INTRO) && buf_str(&want, prompt) && buf_str(&want, "」") && o->content.data &&
                   strcmp(o->content.data, want.data) == 0;
        free(want.data);
        if (!same) snprintf(why, n, "content is not the echo of the prompt: \"%.200s\"", o->content.data ? o->content.data : "");
    } else if (strncmp(tok, "content=", 8) == 0) {
        if (!o->content.data || strcmp(o->content.data, tok + 8) != 0)
            snprintf(why, n, "content \"%.200s\" is not \"%s\"", o->content.data ? o->content.data : "", tok + 8);
    } else if (strncmp(tok, "starts=", 7) == 0) {
        if (!o->content.data || strncmp(o->content.data, tok + 7, strlen(tok + 7)) != 0)
            snprintf(why, n, "content \"%.200s\" does not start with \"%s\"", o->content.data ? o->content.data : "", tok + 7);
    } else if (strncmp(tok, "min_bytes=", 10) == 0) {
        if (o->content.len < strtoul(tok + 10, NULL, 10)) snprintf(why, n, "content has only %zu bytes", o->content.len);
    } else if (strncmp(tok, "finish=", 7) == 0) {
        if (strcmp(o->finish, tok + 7) != 0) snprintf(why, n, "finish_reason \"%s\" is not \"%s\"", o->finish, tok + 7);
    } else if (strncmp(tok, "http=", 5) == 0) {
        if (o->http_status != strtol(tok + 5, NULL, 10)) snprintf(why, n, "http_status %ld is not %s", o->http_status, tok + 5);
    } else if (strncmp(tok, "e=", 2) == 0) {
        if (o->api_code != strtoll(tok + 2, NULL, 10)) snprintf(why, n, "api_code %lld is not %s", o->api_code, tok + 2);
    } else {
        snprintf(why, n, "unknown expectation \"%s\" in the table", tok);
    }
    return why[0] ? why : NULL;
}

/* Checks a row's outcome; returns NULL if it matches, else why not (in `why`). */
static const char *check_row(char **col, const char *prompt, const outcome *o, char *why, size_t n) {
    why[0] = '\0';
    const char *got = ustb_status_name((int)o->status);
    if (strcmp(got, col[STATUS]) != 0) {
        snprintf(why, n, "status %s, expected %s (message: %.300s)", got, col[STATUS], o->message);
        return why;
    }
    if (strcmp(col[MESSAGE], "-") != 0 && !contains_nocase(o->message, col[MESSAGE])) {
        snprintf(why, n, "message \"%.300s\" lacks \"%s\"", o->message, col[MESSAGE]);
        return why;
    }
    if (o->leaked_cookie) return snprintf(why, n, "a cookie value appears in the error"), why;
    if (!o->sticky) return snprintf(why, n, "the call after the error did not repeat it"), why;
    if (o->slowest_ms > bound_ms) return snprintf(why, n, "a call took %.0f ms (bound %ld)", o->slowest_ms, bound_ms), why;
    if (strcmp(col[EXPECT], "-") == 0) return NULL;
    char expect[MAX_LINE];
    snprintf(expect, sizeof expect, "%s", col[EXPECT]);
    for (char *tok = strtok(expect, " "); tok; tok = strtok(NULL, " "))
        if (check_expect(tok, prompt, o, why, n)) return why;
    return NULL;
}

/* Splits a line into the table's columns in place; returns 1 if it has all of them. */
static int split(char *line, char **col) {
    line[strcspn(line, "\r\n")] = '\0';
    for (int i = 0; i < COLUMNS; i++) {
        col[i] = line;
        char *tab = strchr(line, '\t');
        if (i < COLUMNS - 1) {
            if (!tab) return 0;
            *tab = '\0';
            line = tab + 1;
        }
    }
    return strchr(col[DESCRIPTION], '\t') == NULL;
}

int main(int argc, char **argv) {
    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s BASE_URL TABLE [BOUND_MS]\n", argv[0]);
        return 2;
    }
    if (argc == 4) bound_ms = strtol(argv[3], NULL, 10);
    FILE *f = fopen(argv[2], "r");
    if (!f) {
        perror(argv[2]);
        return 2;
    }
    char line[MAX_LINE];
    int rows = 0, failed = 0, lineno = 0;
    while (fgets(line, sizeof line, f)) {
        char *col[COLUMNS];
        if (++lineno == 1 || line[0] == '\n') continue; /* the header line */
        if (!split(line, col)) {
            printf("FAIL line %d: not %d tab-separated columns\n", lineno, COLUMNS);
            failed++;
            continue;
        }
        const char *base = argv[1], *prompt = col[HOW];
        if (strcmp(col[HOW], "refused") == 0) base = REFUSED_URL, prompt = "hi";
        else if (strcmp(col[HOW], "nodns") == 0) base = NODNS_URL, prompt = "hi";
        outcome o;
        memset(&o, 0, sizeof o);
        o.sticky = 1;
        char why[2048];
        const char *bad = run_row(base, prompt, col[OPTIONS], &o) ? check_row(col, prompt, &o, why, sizeof why) : "out of memory";
        rows++;
        printf("%-4s %-22s %-20s %6.0f ms (slowest call %5.0f ms)  %s%.160s\n", bad ? "FAIL" : "ok", col[NAME],
               ustb_status_name((int)o.status), o.total_ms, o.slowest_ms, bad ? "MISMATCH: " : "", bad ? bad : o.message);
        fflush(stdout);
        if (bad) failed++;
        free(o.content.data);
    }
    fclose(f);
    printf("%d rows, %d failed\n", rows, failed);
    return failed || rows == 0 ? 1 : 0;
}
