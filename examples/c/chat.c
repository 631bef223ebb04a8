/*
 * ustb-chat: stream one reply of 北科大 AI 助手 to the terminal through the C API.
 * `make install` installs it as ustb-chat; `make demo` builds it as target/debug/ustb-chat.
 *
 * The model's thinking (reasoning_content) is printed first under 【思考】, then the answer
 * under 【回答】. `--doctor` checks the way to the server instead (one line per check).
 * `--login` logs in through the university SSO first (WeChat QR code in the terminal, or an
 * SMS code with --login-sms) and saves the cookie to --cookie-file.
 * Options: see USAGE below.
 * Exit status: 0 on success (and for --help), 1 on a library error (its name and message go
 * to stderr) or a failed check, 2 on bad usage.
 */
/* open, fchmod, fdopen, isatty: POSIX, also under -std=c99. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ustb_openai.h"

static const char USAGE[] =
    "usage: ustb-chat [options] \"prompt\"\n"
    "       ustb-chat [--base-url URL] [--cookie COOKIE] --doctor\n"
    "       ustb-chat --login [--login-sms PHONE] --cookie-file FILE [\"prompt\"]\n"
    "Streams one reply of 北科大 AI 助手 (chat.ustb.edu.cn): the thinking under 【思考】, then the\n"
    "answer under 【回答】.\n"
    "\n"
    "  --base-url URL    the server (default http://chat.ustb.edu.cn; e.g. ustb-emulator's address)\n"
    "  --cookie COOKIE   the login cookie, \"cookie_vjuid_login=…\" or \"easy_session=…; cookie_vjuid_login=…\"\n"
    "                    (default: the USTB_COOKIE environment variable)\n"
    "  --cookie-file FILE  read the login cookie from FILE (one line, as for --cookie); with\n"
    "                    --login, save the new cookie there (created with permissions 0600)\n"
    "  --login           log in through the university SSO first: shows a WeChat QR code in the\n"
    "                    terminal, prints the progress, renews an expired code; then chats\n"
    "                    if a prompt is given\n"
    "  --login-sms PHONE log in with an SMS code instead (the slider puzzle is solved for you;\n"
    "                    type the code when asked)\n"
    "  --qr-png FILE     with --login, also write the QR code image to FILE\n"
    "  --sso-base-url URL  the SSO and SIS servers for --login (default https://sso.ustb.edu.cn\n"
    "                    and https://sis.ustb.edu.cn; e.g. ustb-emulator's address)\n"
    "  --ca-file FILE    trust the CA certificates in FILE (PEM) for the SSO instead of the\n"
    "                    bundled roots (a network that intercepts TLS)\n"
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

/* Appends "key":"value" (escaped) to the JSON object being built in out; NULL value: nothing. */
static size_t add_option(char *out, size_t n, const char *key, const char *value) {
    if (!value) return n;
    n += (size_t)sprintf(out + n, "%s\"%s\":\"", n > 1 ? "," : "", key);
    n += json_escape(value, out + n);
    n += (size_t)sprintf(out + n, "\"");
    return n;
}

/* The cookie saved by --login: one line "cookie_vjuid_login=…". NULL if FILE cannot be read. */
static char *read_cookie_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char *line = malloc(8192);
    if (line && !fgets(line, 8192, f)) line[0] = '\0';
    fclose(f);
    if (line) line[strcspn(line, "\r\n")] = '\0';
    return line;
}

/* Writes the cookie to path, readable by the owner only (it is a password in effect). */
static int save_cookie(const char *path, const char *cookie) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || fchmod(fd, 0600) != 0) {
        perror(path);
        if (fd >= 0) close(fd);
        return 1;
    }
    FILE *f = fdopen(fd, "w");
    int bad = !f || fprintf(f, "cookie_vjuid_login=%s\n", cookie) < 0;
    if (f ? fclose(f) != 0 : close(fd) != 0) bad = 1;
    if (bad) perror(path);
    return bad;
}

static const char *state_text(ustb_login_state s) {
    switch (s) {
    case USTB_LOGIN_WAITING: return "等待扫码 / waiting for a scan";
    case USTB_LOGIN_SCANNED: return "已扫码，请在手机上确认 / scanned: confirm on the phone";
    case USTB_LOGIN_CONFIRMED: return "已确认 / confirmed";
    case USTB_LOGIN_EXPIRED: return "二维码已过期，正在刷新 / the QR code expired: renewing";
    default: return "失败 / failed";
    }
}

/* Shows the current QR code: as text on the terminal, and as a PNG file if asked. */
static int show_qr(ustb_login *login, const char *png_path) {
    ustb_error *err = NULL;
    char *text = NULL;
    ustb_status st = ustb_login_qr_text(login, &text, &err);
    if (st != USTB_OK) return fail("ustb_login_qr_text", st, err);
    printf("用微信扫描二维码登录 / scan with WeChat to log in:\n%s\n", text);
    ustb_string_free(text);
    if (png_path) {
        const uint8_t *png = NULL;
        size_t len = 0;
        st = ustb_login_qr_png(login, &png, &len, &err);
        if (st != USTB_OK) return fail("ustb_login_qr_png", st, err);
        FILE *f = fopen(png_path, "wb");
        if (!f || fwrite(png, 1, len, f) != len || fclose(f) != 0) {
            perror(png_path);
            return 1;
        }
        printf("(the QR code image is also in %s)\n", png_path);
    }
    fflush(stdout);
    return 0;
}

/* The QR code login: show, wait (printing each new state), renew on expiry. */
static int login_qr(ustb_login *login, const char *png_path) {
    ustb_error *err = NULL;
    for (int renewals = 0; renewals < 5; renewals++) {
        ustb_status st = ustb_login_qr_start(login, NULL, &err);
        if (st != USTB_OK) return fail("ustb_login_qr_start", st, err);
        if (show_qr(login, png_path)) return 1;
        ustb_login_state state = USTB_LOGIN_WAITING, last = USTB_LOGIN_FAILED;
        while (state == USTB_LOGIN_WAITING || state == USTB_LOGIN_SCANNED) {
            if (state != last) printf("%s\n", state_text(state));
            fflush(stdout);
            last = state;
            st = ustb_login_qr_wait(login, 20000, NULL, &state, &err);
            if (st != USTB_OK) return fail("ustb_login_qr_wait", st, err);
        }
        printf("%s\n", state_text(state));
        if (state == USTB_LOGIN_CONFIRMED) return 0;
    }
    fprintf(stderr, "ustb-chat: the QR code expired 5 times; run --login again\n");
    return 1;
}

/* The SMS login: the library solves the slider puzzle; the user types the code. */
static int login_sms(ustb_login *login, const char *phone) {
    ustb_error *err = NULL;
    ustb_status st = ustb_login_sms_send(login, phone, USTB_PUZZLE_AUTO, NULL, &err);
    if (st != USTB_OK) return fail("ustb_login_sms_send", st, err);
    for (int tries = 0; tries < 3; tries++) {
        printf("短信验证码已发送，请输入 / the SMS code was sent; type it: ");
        fflush(stdout);
        char code[64];
        if (!fgets(code, sizeof code, stdin)) {
            fprintf(stderr, "ustb-chat: no SMS code on standard input\n");
            return 1;
        }
        code[strcspn(code, "\r\n")] = '\0';
        st = ustb_login_sms_submit(login, code, NULL, &err);
        if (st == USTB_OK) return 0;
        if (st != USTB_API_ERROR) return fail("ustb_login_sms_submit", st, err);
        fprintf(stderr, "ustb-chat: %s\n", ustb_error_message(err));
        ustb_error_free(err);
        err = NULL;
    }
    fprintf(stderr, "ustb-chat: the SMS code was refused 3 times\n");
    return 1;
}

/* --login: logs in and saves the cookie; *client_out is a client with it. */
static int do_login(const char *options, const char *phone, const char *png_path, const char *cookie_file,
                    ustb_client **client_out) {
    ustb_error *err = NULL;
    ustb_login *login = NULL;
    ustb_status st = ustb_login_new(options, &login, &err);
    if (st != USTB_OK) return fail("ustb_login_new", st, err);
    int rc = phone ? login_sms(login, phone) : login_qr(login, png_path);
    char *cookie = NULL;
    if (!rc && (st = ustb_login_cookie(login, &cookie, &err)) != USTB_OK) rc = fail("ustb_login_cookie", st, err);
    if (!rc && (rc = save_cookie(cookie_file, cookie)) == 0) {
        printf("登录成功，cookie 已保存到 %s (0600) / logged in; the cookie is saved in %s\n", cookie_file, cookie_file);
    }
    ustb_string_free(cookie);
    if (!rc && (st = ustb_login_client(login, client_out, &err)) != USTB_OK) rc = fail("ustb_login_client", st, err);
    ustb_login_free(login);
    return rc;
}

int main(int argc, char **argv) {
    const char *base_url = NULL, *cookie = getenv("USTB_COOKIE"), *prompt = NULL, *record = NULL;
    const char *cookie_file = NULL, *phone = NULL, *png_path = NULL, *sso = NULL, *ca_file = NULL;
    int think = 1, usage = 0, doctor = 0, want_login = 0;
    int options_done = 0;
    /* Options that take a value, and where it goes. */
    struct { const char *name; const char **to; } valued[] = {
        {"--base-url", &base_url}, {"--cookie", &cookie}, {"--record", &record},
        {"--cookie-file", &cookie_file}, {"--login-sms", &phone}, {"--qr-png", &png_path},
        {"--sso-base-url", &sso}, {"--ca-file", &ca_file},
    };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        size_t k = 0, nvalued = sizeof valued / sizeof valued[0];
        while (k < nvalued && strcmp(a, valued[k].name) != 0) k++;
        if (options_done || a[0] != '-' || !a[1]) {
            if (prompt) return bad_usage("more than one prompt (quote it): ", a);
            prompt = a;
        } else if (!strcmp(a, "--")) options_done = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { fputs(USAGE, stdout); return 0; }
        else if (!strcmp(a, "--version")) { printf("ustb-chat (libustb_openai %s)\n", ustb_version()); return 0; }
        else if (!strcmp(a, "--no-think")) think = 0;
        else if (!strcmp(a, "--usage")) usage = 1;
        else if (!strcmp(a, "--doctor")) doctor = 1;
        else if (!strcmp(a, "--login")) want_login = 1;
        else if (k < nvalued) {
            if (i + 1 == argc) return bad_usage("missing value for option ", a);
            *valued[k].to = argv[++i];
        } else return bad_usage("unknown option ", a);
    }
    if (phone) want_login = 1;
    if (doctor && prompt) return bad_usage("--doctor takes no prompt: ", prompt);
    if (doctor && want_login) return bad_usage("--doctor and --login do not go together", "");
    if (want_login && !cookie_file) return bad_usage("--login needs --cookie-file FILE (where the cookie is saved)", "");
    if (!want_login && (png_path || sso || ca_file)) return bad_usage("--qr-png, --sso-base-url and --ca-file need --login", "");
    if (!prompt && !doctor && !want_login) return bad_usage("no prompt", "");
    char *saved = NULL;
    if (cookie_file && !want_login) {
        saved = read_cookie_file(cookie_file);
        if (!saved) {
            perror(cookie_file);
            fprintf(stderr, "ustb-chat: no cookie in %s; log in first with --login --cookie-file %s\n", cookie_file, cookie_file);
            return 1;
        }
        cookie = saved;
    }
    if (want_login) cookie = NULL;
    if (!prompt) prompt = "";

    /* Every string is escaped into the JSON, so its size is bounded by 6 bytes per input byte. */
    size_t total = strlen(prompt);
    const char *strings[] = {base_url, cookie, record, sso, ca_file};
    for (size_t k = 0; k < sizeof strings / sizeof strings[0]; k++) total += strings[k] ? 2 * strlen(strings[k]) : 0;
    size_t cap = 256 + 6 * total;
    char *options = malloc(cap), *request = malloc(cap);
    if (!options || !request) return 1;
    size_t n = (size_t)sprintf(options, "{");
    n = add_option(options, n, "base_url", base_url);
    n = add_option(options, n, "cookie", cookie);
    n = add_option(options, n, "record", record);
    n = add_option(options, n, "sso_base_url", sso);
    n = add_option(options, n, "sis_base_url", sso);
    n = add_option(options, n, "ca_file", ca_file);
    sprintf(options + n, "}");
    free(saved);
    n = (size_t)sprintf(request, "{\"model\":\"deepseek-r1\",\"deep_thinking\":%s,"
                        "\"stream_options\":{\"include_usage\":true},"
                        "\"messages\":[{\"role\":\"user\",\"content\":\"", think ? "true" : "false");
    n += json_escape(prompt, request + n);
    sprintf(request + n, "\"}]}");

    ustb_error *err = NULL;
    ustb_client *client = NULL;
    if (want_login) {
        int rc = do_login(options, phone, png_path, cookie_file, &client);
        free(options);
        if (rc || !*prompt) {
            free(request);
            ustb_client_free(client);
            return rc;
        }
    } else {
        ustb_status st = ustb_client_new(options, &client, &err);
        free(options);
        if (st != USTB_OK) { free(request); return fail("ustb_client_new", st, err); }
    }
    ustb_status st;
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
